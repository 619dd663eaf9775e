"""fal's webhooks, as the stand-in sends them: the body, the signature and its headers, the JWKS
that publishes the key, and the delivery to the URL a submit named.

Sources: fal's webhook docs (fal.ai/docs/documentation/model-apis/inference/webhooks):
- the body is `{request_id, gateway_request_id, status: "OK"|"ERROR", payload}`, an error adds
  `error` ("Invalid status code: 422") with fal's error detail as the payload;
- headers X-Fal-Webhook-Request-Id, -User-Id, -Timestamp (Unix seconds), -Signature (hex);
  the signed message is request id, user id, timestamp and the hex SHA-256 of the body, joined
  by newlines, in UTF-8; Ed25519; keys published as a JWKS whose `x` is the base64url key;
- the first delivery times out after 15 s; a failed one is retried (10 times over 2 hours).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

JSON = dict[str, Any]
# The user id fal puts in X-Fal-Webhook-User-Id: the account's, the same on every delivery.
USER_ID = "test-fal-user"
FIRST_TIMEOUT = aiohttp.ClientTimeout(total=15)
# fal retries a failed delivery 10 times over 2 hours; the stand-in keeps the count and
# shortens the pauses so tests see a retry.
RETRY_PAUSES = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0, 240.0)


class WebhookSigner:
    """An Ed25519 key that signs deliveries as fal does, and the JWKS that publishes it."""

    def __init__(self, key: Ed25519PrivateKey | None = None) -> None:
        self.key = key or Ed25519PrivateKey.generate()

    def jwks(self) -> JSON:
        raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        # RFC 8037: an OKP key's `x` is base64url without padding.
        x = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return {"keys": [{"kty": "OKP", "crv": "Ed25519", "use": "sig", "x": x}]}

    def headers(
        self, request_id: str, body: bytes, *, timestamp: int | None = None, user_id: str = USER_ID
    ) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        digest = hashlib.sha256(body).hexdigest()
        message = "\n".join((request_id, user_id, stamp, digest)).encode("utf-8")
        return {
            "Content-Type": "application/json",
            "X-Fal-Webhook-Request-Id": request_id,
            "X-Fal-Webhook-User-Id": user_id,
            "X-Fal-Webhook-Timestamp": stamp,
            "X-Fal-Webhook-Signature": self.key.sign(message).hex(),
        }


def webhook_body(request_id: str, payload: JSON | None, error: str | None) -> bytes:
    body: JSON = {"request_id": request_id, "gateway_request_id": request_id}
    body["status"] = "ERROR" if error is not None else "OK"
    if error is not None:
        body["error"] = error
    body["payload"] = payload
    return json.dumps(body).encode()


async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """One delivery; its HTTP status, or 0 when it did not get an answer. fal follows no
    redirect (a 3xx is a failed delivery), so neither does the stand-in."""
    try:
        async with (
            aiohttp.ClientSession(timeout=FIRST_TIMEOUT) as session,
            session.post(url, data=body, headers=headers, allow_redirects=False) as answer,
        ):
            await answer.read()
            return answer.status
    except (aiohttp.ClientError, TimeoutError):
        return 0

"""Telling fal's webhooks from forgeries: each delivery's Ed25519 signature is checked against
the public keys fal publishes, its timestamp must be recent, and a delivery seen before is
refused.

fal's webhook docs ("Verifying Your Webhook"): four headers, X-Fal-Webhook-Request-Id,
-User-Id, -Timestamp (Unix seconds) and -Signature (hex), all required; the signed message is
the request id, the user id, the timestamp as received and the hex SHA-256 of the raw body,
joined by newlines and encoded as UTF-8; a delivery is genuine when any key of the JWKS
verifies it (there is no key id); a timestamp more than 300 s from now is refused; the JWKS
may be cached, never longer than 24 hours.

Deliveries accepted are remembered in the database (the store's seen keys), not in the
process, so a delivery replayed to another replica is refused there too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bot.domain.clock import Clock

log = logging.getLogger(__name__)

HEADERS = (
    "X-Fal-Webhook-Request-Id",
    "X-Fal-Webhook-User-Id",
    "X-Fal-Webhook-Timestamp",
    "X-Fal-Webhook-Signature",
)
TOLERANCE_SECONDS = 300.0
KEYS_MAX_AGE = 24 * 3600.0
# A delivery no cached key verifies makes the keys be fetched again (fal may have rotated
# them), at most this often, so forgeries cannot make the bot hammer fal's key endpoint.
REFETCH_PAUSE = 60.0
_FETCH_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# A delivery stays acceptable while its timestamp is within the tolerance: up to twice the
# tolerance after it is first accepted (its timestamp may be 300 s ahead), to the second
# included, so it is remembered a second longer.
SEEN_SECONDS = 2 * TOLERANCE_SECONDS + 1

# The store's claim: True the first time a key is claimed while it lives, False for a repeat.
Claim = Callable[[str, float], Awaitable[bool]]


class WebhookRefused(Exception):
    """The delivery is not shown to come from fal; the message says why (for the log)."""


@dataclass(frozen=True)
class FalWebhook:
    """A verified delivery: the queue's request id and how fal says the request ended."""

    request_id: str
    status: str


class FalKeys:
    """fal's webhook signing keys, fetched from the JWKS URL and kept at most 24 hours."""

    def __init__(
        self, url: str, http: httpx.AsyncClient, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.url = url
        self.http = http
        self.clock = clock
        self._keys: list[Ed25519PublicKey] = []
        self._fetched_at: float | None = None
        self._tried_at: float | None = None

    async def current(self) -> list[Ed25519PublicKey]:
        if not self._valid() and not self._tried_lately():
            await self._fetch()
        return self._keys if self._valid() else []

    async def refreshed(self) -> list[Ed25519PublicKey] | None:
        """The keys fetched anew, or None when they were fetched too recently to ask again."""
        if self._tried_lately():
            return None
        await self._fetch()
        return self._keys if self._valid() else []

    def _valid(self) -> bool:
        return self._fetched_at is not None and self.clock() - self._fetched_at < KEYS_MAX_AGE

    def _tried_lately(self) -> bool:
        return self._tried_at is not None and self.clock() - self._tried_at < REFETCH_PAUSE

    async def _fetch(self) -> None:
        self._tried_at = self.clock()
        try:
            response = await self.http.get(self.url, timeout=_FETCH_TIMEOUT)
            response.raise_for_status()
            keys = parse_jwks(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            # Keys fetched earlier stay in use until they are 24 hours old.
            log.warning("fal's webhook keys could not be fetched from %s: %r", self.url, exc)
            return
        self._keys, self._fetched_at = keys, self.clock()


def parse_jwks(document: object) -> list[Ed25519PublicKey]:
    """Every Ed25519 key of a JWKS: `x` is the raw 32-byte key in base64url, which fal (as RFC
    8037 says) sends without padding, and Python's decoder wants padded."""
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise ValueError("the JWKS has no list of keys")
    found = []
    for key in keys:
        if not isinstance(key, dict) or key.get("crv", "Ed25519") != "Ed25519":
            continue
        x = key.get("x")
        if not isinstance(x, str):
            continue
        try:
            raw = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
            found.append(Ed25519PublicKey.from_public_bytes(raw))
        except (ValueError, binascii.Error):
            log.warning("a key in fal's JWKS is not an Ed25519 public key; skipped")
    return found


def signed_message(request_id: str, user_id: str, timestamp: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join((request_id, user_id, timestamp, digest)).encode("utf-8")


class WebhookVerifier:
    """Verifies deliveries and claims the verified ones in the database while their timestamp
    is fresh, so each is accepted once by whichever replica receives it first."""

    def __init__(self, keys: FalKeys, claim: Claim, clock: Clock) -> None:
        self.keys = keys
        self.claim = claim
        # fal's timestamps are compared with the bot's one clock of product time.
        self.clock = clock

    async def close(self) -> None:
        await self.keys.http.aclose()

    async def verify(self, headers: Mapping[str, str], body: bytes) -> FalWebhook:
        """The delivery's request and status once it is shown to be fal's and new; else
        WebhookRefused."""
        values = [headers.get(name, "") for name in HEADERS]
        if not all(values):
            raise WebhookRefused("a signature header is missing")
        request_id, user_id, timestamp, signature_hex = values
        self._fresh(timestamp)
        try:
            signature = bytes.fromhex(signature_hex)
        except ValueError:
            raise WebhookRefused("the signature is not hex") from None
        message = signed_message(request_id, user_id, timestamp, body)
        if not _any_verifies(await self.keys.current(), signature, message):
            keys = await self.keys.refreshed()
            if keys is None or not _any_verifies(keys, signature, message):
                raise WebhookRefused("no key of fal's JWKS verifies the signature")
        if not await self.claim(seen_key(request_id, timestamp, signature), SEEN_SECONDS):
            raise WebhookRefused("this delivery was received before (a replay)")
        return _delivery(request_id, body)

    def _fresh(self, timestamp: str) -> None:
        try:
            sent = float(int(timestamp))
        except ValueError:
            raise WebhookRefused("the timestamp is not a number of seconds") from None
        off = self.clock().timestamp() - sent
        if abs(off) > TOLERANCE_SECONDS:
            raise WebhookRefused(f"the timestamp is {off:.0f} s from now")


def seen_key(request_id: str, timestamp: str, signature: bytes) -> str:
    """The key a delivery is remembered by: fal signs each attempt anew, so a retry is a new
    delivery and only a copy of one repeats the key (the signature is hashed to keep it short)."""
    digest = hashlib.sha256(signature).hexdigest()
    return f"fal-webhook:{request_id}:{timestamp}:{digest}"


def _any_verifies(keys: list[Ed25519PublicKey], signature: bytes, message: bytes) -> bool:
    for key in keys:
        try:
            key.verify(signature, message)
        except InvalidSignature:
            continue
        return True
    return False


def _delivery(header_request_id: str, body: bytes) -> FalWebhook:
    """The body's `request_id` is the one the queue API knows (fal's webhook docs: the
    `gateway_request_id` may differ after a retry); the body is signed, so it can be trusted."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        return FalWebhook(header_request_id, "")
    request_id = parsed.get("request_id")
    status = parsed.get("status")
    return FalWebhook(
        request_id if isinstance(request_id, str) and request_id else header_request_id,
        status if isinstance(status, str) else "",
    )

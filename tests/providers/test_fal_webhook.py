"""fal's webhook signatures: what is accepted (fal's key, a fresh timestamp, a first delivery)
and everything that is refused; fal's keys fetched, kept at most a day, and fetched again when
a delivery names a key they lack. Deliveries are remembered in a store, as the bot does (the
same delivery at two replicas: tests/store/test_webhook_deliveries.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from bot.providers.fal.webhook import (
    HEADERS,
    KEYS_MAX_AGE,
    REFETCH_PAUSE,
    FalKeys,
    WebhookRefused,
    WebhookVerifier,
)
from bot.store import Store
from bot.testing.fal.webhooks import WebhookSigner, webhook_body
from tests.helpers import UnixClock

NOW = 1_790_000_000
JWKS_URL = "https://keys.test/.well-known/jwks.json"


@dataclass
class KeyEndpoint:
    """fal's JWKS endpoint: serves the keys of `signers`, counting fetches."""

    signers: list[WebhookSigner]
    fetches: int = 0
    failing: bool = False
    served: list[str] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        self.served.append(str(request.url))
        if self.failing:
            return httpx.Response(503, text="unavailable")
        keys = [key for signer in self.signers for key in signer.jwks()["keys"]]
        return httpx.Response(200, json={"keys": keys})


@dataclass
class Setup:
    signer: WebhookSigner
    endpoint: KeyEndpoint
    clock: UnixClock
    verifier: WebhookVerifier


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    signer = WebhookSigner()
    endpoint = KeyEndpoint([signer])
    clock = UnixClock(NOW)
    store = await Store.open(tmp_path / "imagebot.db", clock=clock.utc)
    http = httpx.AsyncClient(transport=httpx.MockTransport(endpoint.handle))
    verifier = WebhookVerifier(FalKeys(JWKS_URL, http, clock), store.claim, clock.utc)
    yield Setup(signer, endpoint, clock, verifier)
    await verifier.close()
    await store.close()


def delivery(
    signer: WebhookSigner, request_id: str = "req-1", *, at: int = NOW
) -> tuple[dict[str, str], bytes]:
    body = webhook_body(request_id, {"images": [{"url": "https://cdn.test/0.png"}]}, None)
    return signer.headers(request_id, body, timestamp=at), body


async def test_fals_signature_is_accepted_and_names_the_request(setup: Setup) -> None:
    headers, body = delivery(setup.signer)
    webhook = await setup.verifier.verify(headers, body)
    assert (webhook.request_id, webhook.status) == ("req-1", "OK")
    assert setup.endpoint.served == [JWKS_URL]


async def test_the_bodys_request_id_is_the_queue_one(setup: Setup) -> None:
    body = json.dumps(
        {"request_id": "queue-id", "gateway_request_id": "retried", "status": "ERROR"}
    )
    headers = setup.signer.headers("retried", body.encode(), timestamp=NOW)
    webhook = await setup.verifier.verify(headers, body.encode())
    assert (webhook.request_id, webhook.status) == ("queue-id", "ERROR")


@pytest.mark.parametrize("missing", HEADERS)
async def test_a_missing_header_is_refused(setup: Setup, missing: str) -> None:
    headers, body = delivery(setup.signer)
    del headers[missing]
    with pytest.raises(WebhookRefused, match="missing"):
        await setup.verifier.verify(headers, body)


async def test_a_changed_body_is_refused(setup: Setup) -> None:
    headers, body = delivery(setup.signer)
    with pytest.raises(WebhookRefused, match="verifies"):
        await setup.verifier.verify(headers, body.replace(b"0.png", b"1.png"))


@pytest.mark.parametrize("header", ["X-Fal-Webhook-Request-Id", "X-Fal-Webhook-User-Id"])
async def test_a_changed_signed_header_is_refused(setup: Setup, header: str) -> None:
    headers, body = delivery(setup.signer)
    headers[header] += "x"
    with pytest.raises(WebhookRefused):
        await setup.verifier.verify(headers, body)


async def test_another_keys_signature_is_refused(setup: Setup) -> None:
    headers, body = delivery(WebhookSigner())
    with pytest.raises(WebhookRefused, match="verifies"):
        await setup.verifier.verify(headers, body)


async def test_a_signature_that_is_not_hex_is_refused(setup: Setup) -> None:
    headers, body = delivery(setup.signer)
    headers["X-Fal-Webhook-Signature"] = "zz" + headers["X-Fal-Webhook-Signature"][2:]
    with pytest.raises(WebhookRefused, match="hex"):
        await setup.verifier.verify(headers, body)


@pytest.mark.parametrize(
    ("offset", "accepted"), [(-300, True), (300, True), (-301, False), (301, False)]
)
async def test_the_timestamp_must_be_within_300_seconds(
    setup: Setup, offset: int, accepted: bool
) -> None:
    headers, body = delivery(setup.signer, at=NOW + offset)
    if accepted:
        await setup.verifier.verify(headers, body)
    else:
        with pytest.raises(WebhookRefused, match="timestamp"):
            await setup.verifier.verify(headers, body)


async def test_a_replayed_delivery_is_refused_and_a_new_attempt_is_not(setup: Setup) -> None:
    headers, body = delivery(setup.signer)
    await setup.verifier.verify(headers, body)
    with pytest.raises(WebhookRefused, match="replay"):
        await setup.verifier.verify(dict(headers), body)
    # fal's retry of the same request is signed anew: a delivery of its own.
    setup.clock.now += 1
    again, _ = delivery(setup.signer, at=NOW + 1)
    assert (await setup.verifier.verify(again, body)).request_id == "req-1"


async def test_a_refused_delivery_is_not_remembered(setup: Setup) -> None:
    endpoint = setup.endpoint
    endpoint.failing = True
    headers, body = delivery(setup.signer)
    with pytest.raises(WebhookRefused):
        await setup.verifier.verify(headers, body)
    endpoint.failing = False
    setup.clock.now += REFETCH_PAUSE
    headers, body = delivery(setup.signer, at=NOW + int(REFETCH_PAUSE))
    await setup.verifier.verify(headers, body)


async def test_keys_are_kept_for_a_day_at_most(setup: Setup) -> None:
    for _ in range(3):
        await setup.verifier.verify(*delivery(setup.signer, at=int(setup.clock.now)))
        setup.clock.now += 1
    assert setup.endpoint.fetches == 1
    setup.clock.now = NOW + KEYS_MAX_AGE
    await setup.verifier.verify(*delivery(setup.signer, at=int(setup.clock.now)))
    assert setup.endpoint.fetches == 2


async def test_a_new_key_is_fetched_when_fal_rotates(setup: Setup) -> None:
    await setup.verifier.verify(*delivery(setup.signer, "before"))
    rotated = WebhookSigner()
    setup.endpoint.signers = [rotated]
    setup.clock.now += REFETCH_PAUSE
    webhook = await setup.verifier.verify(*delivery(rotated, "after", at=int(setup.clock.now)))
    assert webhook.request_id == "after" and setup.endpoint.fetches == 2


async def test_forgeries_do_not_make_the_keys_be_fetched_again_and_again(setup: Setup) -> None:
    await setup.verifier.verify(*delivery(setup.signer, "genuine"))
    forger = WebhookSigner()
    setup.clock.now += REFETCH_PAUSE
    for number in range(5):
        with pytest.raises(WebhookRefused):
            await setup.verifier.verify(*delivery(forger, f"f{number}", at=int(setup.clock.now)))
        setup.clock.now += 1
    assert setup.endpoint.fetches == 2  # one refetch for the first unknown key, then a pause


async def test_keys_that_cannot_be_fetched_refuse_every_delivery(setup: Setup) -> None:
    setup.endpoint.failing = True
    with pytest.raises(WebhookRefused, match="verifies"):
        await setup.verifier.verify(*delivery(setup.signer))

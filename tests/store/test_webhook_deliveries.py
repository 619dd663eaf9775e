"""fal's webhook deliveries are remembered in the database: a delivery one replica accepted is
refused by another replica on the same database (a replay anywhere is refused), and the mark is
pruned with the other seen keys once the delivery's own timestamp would refuse it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot.providers.fal.webhook import (
    SEEN_SECONDS,
    TOLERANCE_SECONDS,
    FalKeys,
    WebhookRefused,
    WebhookVerifier,
    seen_key,
)
from bot.store import Store
from bot.testing.fal.webhooks import WebhookSigner, webhook_body
from tests.helpers import UnixClock

NOW = 1_790_000_000
JWKS_URL = "https://keys.test/.well-known/jwks.json"
SIGNER = WebhookSigner()


@dataclass
class Replica:
    store: Store
    verifier: WebhookVerifier


@pytest.fixture
def clock() -> UnixClock:
    return UnixClock(NOW)


@pytest.fixture
async def replicas(target: Path | str, clock: UnixClock) -> AsyncIterator[tuple[Replica, Replica]]:
    """Two replicas on one database, each with its own store and its own copy of fal's keys."""
    opened = []
    for _ in range(2):
        store = await Store.open(target, clock=clock.utc)
        jwks = httpx.MockTransport(lambda _: httpx.Response(200, json=SIGNER.jwks()))
        keys = FalKeys(JWKS_URL, httpx.AsyncClient(transport=jwks), clock)
        opened.append(Replica(store, WebhookVerifier(keys, store.claim, clock.utc)))
    yield opened[0], opened[1]
    for replica in opened:
        await replica.verifier.close()
        await replica.store.close()


def delivery(request_id: str = "req-1", at: int = NOW) -> tuple[dict[str, str], bytes]:
    body = webhook_body(request_id, {"images": [{"url": "https://cdn.test/0.png"}]}, None)
    return SIGNER.headers(request_id, body, timestamp=at), body


async def test_a_delivery_one_replica_accepted_is_refused_by_the_other(
    replicas: tuple[Replica, Replica],
) -> None:
    first, second = replicas
    headers, body = delivery()
    assert (await first.verifier.verify(headers, body)).request_id == "req-1"
    with pytest.raises(WebhookRefused, match="replay"):
        await second.verifier.verify(dict(headers), body)
    with pytest.raises(WebhookRefused, match="replay"):
        await first.verifier.verify(dict(headers), body)
    # Another request's delivery, first seen by the second replica, is its own.
    other = delivery("req-2")
    assert (await second.verifier.verify(*other)).request_id == "req-2"
    with pytest.raises(WebhookRefused, match="replay"):
        await first.verifier.verify(*other)


async def test_a_replay_is_refused_as_long_as_its_timestamp_is_accepted(
    replicas: tuple[Replica, Replica], clock: UnixClock
) -> None:
    first, second = replicas
    ahead = NOW + int(TOLERANCE_SECONDS)  # a sender's clock ahead by the whole tolerance
    headers, body = delivery(at=ahead)
    await first.verifier.verify(headers, body)
    clock.now = ahead + TOLERANCE_SECONDS  # the timestamp is still (just) fresh here
    with pytest.raises(WebhookRefused, match="replay"):
        await second.verifier.verify(dict(headers), body)


async def test_the_mark_is_pruned_once_the_timestamp_refuses_the_delivery(
    replicas: tuple[Replica, Replica], clock: UnixClock
) -> None:
    first, second = replicas
    headers, body = delivery()
    await first.verifier.verify(headers, body)
    signature = bytes.fromhex(headers["X-Fal-Webhook-Signature"])
    key = seen_key("req-1", str(NOW), signature)
    assert await second.store.seen(key)
    clock.now += SEEN_SECONDS + 1
    assert await second.store.purge_expired() == 1
    assert not await first.store.seen(key)
    with pytest.raises(WebhookRefused, match="timestamp"):
        await second.verifier.verify(dict(headers), body)

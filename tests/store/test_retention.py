"""Housekeeping on the bot's clock: prompts of finished jobs are blanked after the retention
period (amounts stay), and remembered events are forgotten when they expire."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.domain.failures import ErrorKind
from bot.domain.request import ImageRequest
from bot.jobs.maintenance import Maintenance
from bot.store import Admitted, Store
from tests.factories import new_job
from tests.helpers import SetClock

START = datetime(2026, 11, 1, 9, tzinfo=UTC)


@pytest.fixture
def clock() -> SetClock:
    return SetClock(START)


@pytest.fixture
async def store(target: Path | str, clock: SetClock) -> AsyncIterator[Store]:
    opened = await Store.open(target, clock=clock)
    yield opened
    await opened.close()


async def finished_job(store: Store, prompt: str) -> str:
    admitted = await store.admit(
        replace(new_job(), request=ImageRequest(prompt=prompt, quality="low")),
        month=(START, START + timedelta(days=60)), user_budget_micros=None, team_budget_micros=None,
    )  # fmt: skip
    assert isinstance(admitted, Admitted)
    await store.mark_failed(admitted.job.id, ErrorKind.UNAVAILABLE, "fal 500")
    return admitted.job.id


async def test_prompts_older_than_the_retention_are_blanked(store: Store, clock: SetClock) -> None:
    old = await finished_job(store, "an old secret")
    await store.record_arguments(old, {"prompt": "an old secret"})
    clock.now = START + timedelta(days=20)
    recent = await finished_job(store, "a recent one")
    await store.record_arguments(recent, {"prompt": "a recent one"})
    clock.now = START + timedelta(days=30, minutes=1)
    settings = Settings.model_validate({"IMAGEBOT_PROMPT_RETENTION_DAYS": "30"})

    await Maintenance(settings, store).run_once()

    prompts = {job.id: job.prompt for job in await store.jobs()}
    assert prompts == {old: "", recent: "a recent one"}
    assert await store.sent_arguments(old) is None  # what fal was sent held the prompt too
    assert await store.sent_arguments(recent) == {"prompt": "a recent one"}


async def test_remembered_events_expire_on_the_bots_clock(store: Store, clock: SetClock) -> None:
    assert await store.claim("Ev1", ttl_seconds=3600)
    clock.now = START + timedelta(minutes=59)
    assert await store.seen("Ev1") and await store.purge_expired() == 0
    clock.now = START + timedelta(minutes=61)
    assert not await store.seen("Ev1")
    assert await store.purge_expired() == 1 and await store.claim("Ev1", ttl_seconds=3600)

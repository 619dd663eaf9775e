"""A job's deadline is measured on the bot's clock from when fal took it: past it, a job still
queued at fal is cancelled and costs nothing, even when the time passed while the bot was down."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.store import JobState
from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.harness import bot_env, running_bot
from bot.testing.slack.standin import SlackStandIn
from tests.helpers import SetClock

START = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.mark.parametrize(("away", "overdue"), [(590, False), (610, True)])
async def test_the_deadline_counts_the_time_the_bot_was_down(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path, away: int, overdue: bool
) -> None:
    fal.default = FalBehaviour(queue_seconds=60, run_seconds=0.1)  # waits in fal's queue
    clock = SetClock(START)
    env = bot_env(slack, tmp_path, FAL_KEY=fal.key, IMAGEBOT_JOB_DEADLINE_SECONDS="600")
    async with running_bot(slack, env, clock=clock) as bot:
        await bot.driver.command("/image", "a slow owl --quality low")
        await bot.job_when(lambda j: j.state == JobState.SUBMITTED)
    clock.now = START + timedelta(seconds=away)

    async with running_bot(slack, env, clock=clock) as bot:
        if overdue:
            job = await bot.job_when(lambda j: j.state == JobState.FAILED and j.card_done)
            assert job.error_kind == "timeout" and job.charge_status == "released"
            assert fal.requests[0].cancelled
        else:
            await asyncio.sleep(1.0)  # time enough to have given up, had the deadline passed
            job = await bot.job_when(lambda j: j.state == JobState.SUBMITTED)
            assert not fal.requests[0].cancelled

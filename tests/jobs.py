"""Waiting on a running bot's jobs, and reading their cards, for end-to-end tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from bot.store import Job
from bot.testing.harness import RunningBot
from bot.testing.slack.standin import SlackStandIn


async def finished(bot: RunningBot, count: int = 1, timeout: float = 40.0) -> list[Job]:
    """The jobs, oldest first, once at least `count` exist and all are over, cards and all."""
    async with asyncio.timeout(timeout):
        while True:
            jobs = await bot.store.jobs()
            if len(jobs) >= count and all(j.finished and j.card_done for j in jobs):
                await bot.idle()
                return list(reversed(jobs))
            await asyncio.sleep(0.05)


async def newest_when(bot: RunningBot, check: Callable[[Job], bool], timeout: float = 20.0) -> Job:
    """The newest job, once `check` holds for it."""
    async with asyncio.timeout(timeout):
        while True:
            jobs = await bot.store.jobs()
            if jobs and check(jobs[0]):
                return jobs[0]
            await asyncio.sleep(0.02)


def card_of(slack: SlackStandIn, job: Job) -> str:
    return json.dumps(next(m for m in slack.messages(job.channel_id) if m["ts"] == job.card_ts))

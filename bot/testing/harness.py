"""The whole bot running in this process, in HTTP mode on a loopback port, wired to a Slack
stand-in; used by the end-to-end tests, the benchmarks and `imagebot demo`."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.app import Services, build_app, open_services
from bot.config import Settings
from bot.domain.clock import Clock, system_clock
from bot.providers.base import ImageProvider
from bot.run.server import EVENTS_PATH, BotServer
from bot.store import Job, JobState, Store
from bot.testing.slack.driver import SlackDriver
from bot.testing.slack.standin import SlackStandIn

SIGNING_SECRET = "test-signing-secret-0123456789"


def bot_env(slack: SlackStandIn, folder: Path, **extra: str) -> dict[str, str]:
    """Settings for a bot talking to the stand-in, with its database in `folder`. Like
    fal-client's hosts, fal's Platform API is the one the process environment names."""
    env = {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "IMAGEBOT_DATABASE_URL": f"sqlite:///{folder / 'imagebot.db'}",
        "IMAGEBOT_PROGRESS_INTERVAL_SECONDS": "0.2",
        "IMAGEBOT_CARD_UPDATES_PER_MINUTE": "6000",
    }
    if "IMAGEBOT_FAL_API_URL" in os.environ:
        env["IMAGEBOT_FAL_API_URL"] = os.environ["IMAGEBOT_FAL_API_URL"]
    env.update(extra)
    return env


@dataclass
class RunningBot:
    services: Services
    server: BotServer
    driver: SlackDriver

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def store(self) -> Store:
        return self.services.store

    async def idle(self, timeout: float = 20.0) -> None:
        """Wait until every request Slack sent has been handled and no job is running."""
        async with asyncio.timeout(timeout):
            while self.services.inflight.count or self.services.runner.active:
                await self.services.inflight.drain(timeout)
                await self.services.runner.wait_idle()

    # The waits of the tests: each polls the store until its condition holds.

    async def finished(self, count: int = 1, timeout: float = 40.0) -> list[Job]:
        """Every job, oldest first, once at least `count` exist, all are over with their cards
        final, and nothing Slack sent is still being handled."""
        async with asyncio.timeout(timeout):
            while True:
                jobs = await self.store.jobs(limit=1000)
                if len(jobs) >= count and all(j.finished and j.card_done for j in jobs):
                    await self.idle(timeout)
                    return list(reversed(jobs))
                await asyncio.sleep(0.05)

    async def job_when(self, check: Callable[[Job], bool], timeout: float = 20.0) -> Job:
        """The newest job, once `check` holds for it."""
        async with asyncio.timeout(timeout):
            while True:
                jobs = await self.store.jobs()
                if jobs and check(jobs[0]):
                    return jobs[0]
                await asyncio.sleep(0.02)

    async def delivered(self, text: str = "a lighthouse", timeout: float = 40.0) -> Job:
        """`/image text` from the default person, once its images are in Slack (the only job)."""
        await self.driver.command("/image", text)
        (job,) = await self.finished(1, timeout)
        assert job.state == JobState.DELIVERED, job
        return job


@asynccontextmanager
async def running_bot(
    slack: SlackStandIn,
    env: Mapping[str, str],
    *,
    provider: ImageProvider | None = None,
    clock: Clock = system_clock,
    port: int = 0,
) -> AsyncIterator[RunningBot]:
    # Only `env`: neither the process environment nor a .env file leaks into a test bot.
    settings = Settings.model_validate(dict(env))
    services = await open_services(settings, provider=provider, clock=clock)
    server = BotServer(build_app(services), services, http=True, host="127.0.0.1", port=port)
    await server.start()
    secret = settings.slack_signing_secret
    driver = SlackDriver(
        f"http://127.0.0.1:{server.port}{EVENTS_PATH}",
        secret.get_secret_value() if secret else "",
        slack,
    )
    try:
        yield RunningBot(services, server, driver)
    finally:
        await driver.close()
        await server.stop()

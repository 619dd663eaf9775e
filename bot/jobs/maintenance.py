"""Housekeeping while the bot runs: expire remembered events, apply prompt retention."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from bot.config import Settings
from bot.store import Store

log = logging.getLogger(__name__)
EVERY_SECONDS = 600.0


class Maintenance:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        every: float = EVERY_SECONDS,
        *,
        daily: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.every = every
        # Once a day (by the store's clock, once across restarts): reconciliation with fal.
        self.daily = daily
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> None:
        purged = await self.store.purge_expired()
        blanked = 0
        days = self.settings.prompt_retention_days
        if days is not None:
            blanked = await self.store.blank_prompts(self.store.clock() - timedelta(days=days))
        if purged or blanked:
            log.info("maintenance expired_events=%d prompts_removed=%d", purged, blanked)
        day = f"daily:{self.store.clock():%Y-%m-%d}"
        if self.daily is not None and await self.store.claim_notice(day):
            await self.daily()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="maintenance")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def healthy(self) -> bool:
        return self._task is None or not self._task.done()

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("maintenance failed; trying again later")
            await asyncio.sleep(self.every)

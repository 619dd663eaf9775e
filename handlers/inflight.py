"""Counts the work Slack has handed us that is still running, so a stop can wait for it."""

from __future__ import annotations

import asyncio
from types import TracebackType


class InFlight:
    """An async context manager around each piece of work; `drain` waits for all of them."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def __aenter__(self) -> None:
        self.count += 1
        self._idle.clear()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def drain(self, grace: float) -> bool:
        """Wait up to `grace` seconds for everything in flight; True when all finished."""
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            return False
        return True

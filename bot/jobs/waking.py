"""Waking a job that follows its request at fal when fal says, by webhook, that it finished.

A job follows fal's status stream, or polls it on a schedule; a webhook can come sooner than
the next poll. Waking makes the job ask fal for the status at once: a finish it reports ends
the wait, and anything else leaves the job following as before, so a webhook only ever
brings the moment forward.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable

from bot.providers.base import Finished, ProviderError, QueueState

log = logging.getLogger("bot.jobs")


class Wakes:
    """One wake-up call per job that follows a request; set before the job waits, it still
    counts."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def event(self, job_id: str) -> asyncio.Event:
        return self._events.setdefault(job_id, asyncio.Event())

    def wake(self, job_id: str) -> None:
        self.event(job_id).set()

    def forget(self, job_id: str) -> None:
        self._events.pop(job_id, None)


async def until_woken(
    states: AsyncGenerator[QueueState, None],
    wake: asyncio.Event,
    ask: Callable[[], Awaitable[QueueState]],
) -> AsyncGenerator[QueueState, None]:
    """The states of `states` until one is Finished; each time `wake` is set, the state `ask`
    answers too, ending there when it is Finished."""
    following: asyncio.Task[QueueState] | None = None
    try:
        while True:
            following = following or asyncio.create_task(_next(states))
            woken = asyncio.create_task(wake.wait())
            try:
                await asyncio.wait({following, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                woken.cancel()
            if following.done():
                try:
                    state: QueueState | None = following.result()
                except StopAsyncIteration:
                    return
                following = None
            else:
                wake.clear()
                state = await _asked(ask)
            if state is not None:
                yield state
                if isinstance(state, Finished):
                    return
    finally:
        if following is not None:
            following.cancel()
            await asyncio.wait({following})
        await states.aclose()


async def _next(states: AsyncGenerator[QueueState, None]) -> QueueState:
    return await anext(states)


async def _asked(ask: Callable[[], Awaitable[QueueState]]) -> QueueState | None:
    try:
        return await ask()
    except ProviderError as exc:
        log.info("fal's status after a webhook could not be read (%s); following on", exc)
        return None

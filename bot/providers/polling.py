"""When to ask fal for a job's status, when it cannot tell us by itself.

fal streams a request's status (server-sent events), which the bot follows first; this is the
fallback when the stream is not available or breaks. fal-client's subscribe() asks ten times a
second. A GPT Image 2 job takes tens of seconds, so the bot sleeps through most of the expected
run (learned from recent jobs like this one) and then asks every ~0.75 s, backing off when a
job runs long. Without history it backs off from 1 s to 3 s, which keeps the added latency
near a second either way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from statistics import median

from bot.providers.base import Finished, ProviderError, Queued, QueueState, Submission

log = logging.getLogger(__name__)

QUEUED_INTERVAL = 2.0
FIRST_POLL = 0.5
NEAR_INTERVAL = 0.75
LATE_GROWTH = 1.3
MAX_INTERVAL = 3.0
# Wake this long before the expected end: fal's runs vary by a few hundred milliseconds.
EARLY_MARGIN = 0.6


@dataclass(frozen=True)
class PollPlan:
    expected_seconds: float | None

    def first_delay(self) -> float:
        return FIRST_POLL

    def queued_delay(self) -> float:
        return QUEUED_INTERVAL

    def running_delay(self, running_for: float, late_polls: int) -> float:
        """Seconds to sleep when fal says the job has been running for `running_for` s.

        `late_polls` counts polls made since the job passed its expected end (or since it
        started, when nothing is expected).
        """
        if self.expected_seconds is not None:
            remaining = self.expected_seconds - running_for
            if remaining > EARLY_MARGIN + NEAR_INTERVAL:
                return remaining - EARLY_MARGIN
            return min(NEAR_INTERVAL * LATE_GROWTH**late_polls, MAX_INTERVAL)
        return min(1.0 * 1.5**late_polls, MAX_INTERVAL)


class Durations:
    """Recent run times per (endpoint, quality), to predict the next one."""

    def __init__(self, keep: int = 20) -> None:
        self._keep = keep
        self._seen: dict[tuple[str, str], deque[float]] = {}

    def known(self, key: tuple[str, str]) -> bool:
        return key in self._seen

    def seed(self, key: tuple[str, str], seconds: list[float]) -> None:
        self._seen[key] = deque((s for s in seconds if s > 0), maxlen=self._keep)

    def add(self, key: tuple[str, str], seconds: float) -> None:
        if seconds > 0:
            self._seen.setdefault(key, deque(maxlen=self._keep)).append(seconds)

    def expected(self, key: tuple[str, str]) -> float | None:
        seen = self._seen.get(key)
        if not seen or len(seen) < 2:
            return None
        return float(median(seen))


StatusCheck = Callable[[Submission], Awaitable[QueueState]]
# After a failed status request (that may pass), wait this long before the next.
RETRY_DELAY = 5.0


async def poll(
    status: StatusCheck, submission: Submission, plan: PollPlan
) -> AsyncGenerator[QueueState, None]:
    """Ask for the status on the plan's schedule until the request is finished.

    Errors that may pass are logged and asked again; others end the watch by raising.
    """
    delay, late = plan.first_delay(), 0
    running_since: float | None = None
    while True:
        await asyncio.sleep(delay)
        try:
            state = await status(submission)
        except ProviderError as exc:
            if not exc.retryable:
                raise
            log.warning("status poll failed request=%s: %s", submission.request_id, exc.message)
            delay = RETRY_DELAY
            continue
        yield state
        if isinstance(state, Finished):
            return
        if isinstance(state, Queued):
            delay = plan.queued_delay()
            continue
        now = time.monotonic()
        running_since = running_since or now
        running_for = now - running_since
        delay = plan.running_delay(running_for, late)
        expected = plan.expected_seconds
        late += 1 if expected is None or running_for >= expected else 0

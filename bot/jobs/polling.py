"""When to ask fal for a job's status next: rarely while it cannot be done, often when it may be.

fal-client's subscribe() asks ten times a second. A GPT Image 2 job takes tens of seconds, so
the bot sleeps through most of the expected run (learned from recent jobs like this one) and
then asks every ~0.75 s, backing off when a job runs long. Without history it backs off from
1 s to 3 s, which keeps the added latency near a second either way.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from statistics import median

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

"""Fair admission to fal: a global and a per-person limit of jobs at fal, in arrival order."""

from __future__ import annotations

import asyncio
import bisect
import itertools
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class _Waiter:
    job_id: str
    user_id: str
    ticket: int
    granted: asyncio.Event = field(default_factory=asyncio.Event)


class Slots:
    """Who may be at fal now. A job waits while either limit is reached; waiters are served
    in arrival order, except that one person at their limit does not block others behind them.

    Hundreds of jobs may wait: a waiter is woken only when it is let through, and its place in
    the line is looked up (by arrival ticket) only when its card is drawn.
    """

    def __init__(self, total: int, per_user: int) -> None:
        self.total = total
        self.per_user = per_user
        self._running: dict[str, str] = {}
        self._per_user: Counter[str] = Counter()
        self._waiting: dict[str, _Waiter] = {}
        self._tickets: list[int] = []
        self._numbers = itertools.count()

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def _fits(self, user_id: str) -> bool:
        return len(self._running) < self.total and self._per_user[user_id] < self.per_user

    def _run(self, job_id: str, user_id: str) -> None:
        self._running[job_id] = user_id
        self._per_user[user_id] += 1

    def take(self, job_id: str, user_id: str) -> None:
        """Count a job that is at fal already (resumed after a restart), limits or not."""
        if job_id not in self._running:
            self._run(job_id, user_id)

    def try_take(self, job_id: str, user_id: str) -> bool:
        if job_id in self._running:
            return True
        if self._waiting or not self._fits(user_id):
            return False
        self._run(job_id, user_id)
        return True

    def enqueue(self, job_id: str, user_id: str) -> _Waiter:
        waiter = _Waiter(job_id, user_id, next(self._numbers))
        self._waiting[job_id] = waiter
        self._tickets.append(waiter.ticket)
        self._grant()
        return waiter

    def ahead_of(self, job_id: str) -> int:
        waiter = self._waiting.get(job_id)
        return 0 if waiter is None else bisect.bisect_left(self._tickets, waiter.ticket)

    def leave(self, waiter: _Waiter) -> None:
        """A waiter gave up (cancelled); if it had just been let through, free the slot again."""
        if self._waiting.get(waiter.job_id) is waiter:
            self._forget(waiter)
        elif waiter.granted.is_set():
            self.release(waiter.job_id)

    def release(self, job_id: str) -> None:
        user = self._running.pop(job_id, None)
        if user is not None:
            self._per_user[user] -= 1
            self._grant()

    def _forget(self, waiter: _Waiter) -> None:
        del self._waiting[waiter.job_id]
        at = bisect.bisect_left(self._tickets, waiter.ticket)
        del self._tickets[at]

    def _grant(self) -> None:
        # Waiters are kept in arrival order (dicts keep insertion order).
        for waiter in list(self._waiting.values()):
            if len(self._running) >= self.total:
                return
            if self._per_user[waiter.user_id] < self.per_user:
                self._forget(waiter)
                self._run(waiter.job_id, waiter.user_id)
                waiter.granted.set()

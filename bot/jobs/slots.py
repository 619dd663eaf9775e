"""Fair admission to fal: a global and a per-person limit of jobs at fal, in arrival order."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class _Waiter:
    job_id: str
    user_id: str
    granted: bool = False
    # Set whenever the waiter's place changes or it is let through.
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class Slots:
    """Who may be at fal now. A job waits while either limit is reached; waiters are served
    in arrival order, except that one person at their limit does not block others behind them."""

    def __init__(self, total: int, per_user: int) -> None:
        self.total = total
        self.per_user = per_user
        self._running: dict[str, str] = {}
        self._waiting: list[_Waiter] = []

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def _user_count(self, user_id: str) -> int:
        return sum(1 for user in self._running.values() if user == user_id)

    def _fits(self, user_id: str) -> bool:
        return len(self._running) < self.total and self._user_count(user_id) < self.per_user

    def take(self, job_id: str, user_id: str) -> None:
        """Count a job that is at fal already (resumed after a restart), limits or not."""
        self._running[job_id] = user_id

    def try_take(self, job_id: str, user_id: str) -> bool:
        if job_id in self._running:
            return True
        if self._waiting or not self._fits(user_id):
            return False
        self._running[job_id] = user_id
        return True

    def enqueue(self, job_id: str, user_id: str) -> _Waiter:
        waiter = _Waiter(job_id, user_id)
        self._waiting.append(waiter)
        self._grant()
        return waiter

    def ahead_of(self, job_id: str) -> int:
        for index, waiter in enumerate(self._waiting):
            if waiter.job_id == job_id:
                return index
        return 0

    def leave(self, waiter: _Waiter) -> None:
        """A waiter gave up (cancelled); if it had just been granted, free the slot again."""
        if waiter in self._waiting:
            self._waiting.remove(waiter)
            self._notify()
        elif waiter.granted:
            self.release(waiter.job_id)

    def release(self, job_id: str) -> None:
        if self._running.pop(job_id, None) is not None:
            self._grant()

    def _grant(self) -> None:
        granted = False
        for waiter in list(self._waiting):
            if len(self._running) >= self.total:
                break
            if self._user_count(waiter.user_id) < self.per_user:
                self._waiting.remove(waiter)
                self._running[waiter.job_id] = waiter.user_id
                waiter.granted = True
                waiter.changed.set()
                granted = True
        if granted:
            self._notify()

    def _notify(self) -> None:
        for waiter in self._waiting:
            waiter.changed.set()

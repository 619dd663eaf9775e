"""Which jobs this replica drives: it takes over the unfinished jobs nobody holds at its start,
renews its leases while it works, claims the jobs of a replica that died (their leases lapse),
lets a job go when another replica holds it now, and lets every job go when it stops. A mixin
of the Runner, which supplies the attributes and steps declared here."""

from __future__ import annotations

import abc
import asyncio
import logging

from bot.jobs.slots import Slots
from bot.store import JobState, Store

log = logging.getLogger("bot.jobs")


class Claims(abc.ABC):
    store: Store
    slots: Slots
    _tasks: dict[str, asyncio.Task[None]]
    _leases: asyncio.Task[None] | None

    @abc.abstractmethod
    def launch(self, job_id: str, *, resumed: bool = False) -> None: ...

    async def resume(self) -> int:
        """Take over the unfinished jobs nobody holds, then keep renewing this replica's leases
        and claiming lapsed ones. A lone SQLite process takes every unfinished job at its
        start, as nobody else can be driving them. Returns how many it took."""
        taken = await self._claim(every=self.store.dialect == "sqlite")
        if self._leases is None:
            self._leases = asyncio.create_task(self._keep_leases(), name="leases")
        return taken

    async def _claim(self, *, every: bool = False) -> int:
        job_ids = [i for i in await self.store.claim_jobs(every=every) if i not in self._tasks]
        for job_id in job_ids:
            job = await self.store.get_job(job_id)
            if job is None:
                continue
            if job.slot_at is not None and job.state in (JobState.HELD, JobState.SUBMITTED):
                self.slots.take(job.id, job.user_id)  # counted at fal already
            self.launch(job.id, resumed=True)
        if job_ids:
            log.info("resumed %d unfinished jobs", len(job_ids))
        return len(job_ids)

    async def _keep_leases(self) -> None:
        every = self.store.lease_seconds / 3
        while True:
            await asyncio.sleep(every)
            try:
                await self._renew()
                await self._claim()
            except Exception:
                log.exception("renewing or claiming job leases failed; trying again")

    async def _renew(self) -> None:
        mine = list(self._tasks)
        held = await self.store.renew_leases(mine)
        for job_id in mine:
            task = self._tasks.get(job_id)
            if job_id not in held and task is not None:
                log.info("job left to another replica job=%s", job_id)
                task.cancel()

    async def _release(self) -> None:
        """Let go of every job at once, for another replica (or the next start)."""
        try:
            released = await self.store.release_leases()
        except Exception:
            log.exception("could not release job leases: they lapse by themselves")
        else:
            if released:
                log.info("released %d jobs for another replica", released)

"""Which jobs this replica drives: it takes over the unfinished jobs nobody holds at its start,
renews its leases while it works, claims the jobs of a replica that died (their leases lapse),
lets a job go when another replica holds it now, and lets every job go when it stops.

With fal's webhooks a job at fal is parked: nobody holds it while fal works, and whichever
replica fal's webhook reaches takes it up (`fal_finished`); a job whose webhook has not come
within the grace is claimed and followed at fal by its status, as without webhooks.

A mixin of the Runner, which supplies the attributes and steps declared here."""

from __future__ import annotations

import abc
import asyncio
import logging
import time

from bot.jobs.slots import Slots
from bot.jobs.stopping import log_state, submission_of
from bot.jobs.waking import Wakes
from bot.providers.base import Finished, ImageProvider, ProviderError
from bot.store import Job, JobState, Store

log = logging.getLogger("bot.jobs")
# How often a replica looks for jobs nobody holds (released by a replica that stopped, parked
# past their grace, or left by one that died).
CLAIM_EVERY_SECONDS = 2.0


class Parked(Exception):
    """The job waits at fal for fal's webhook, held by no replica."""


class Claims(abc.ABC):
    store: Store
    provider: ImageProvider
    slots: Slots
    wakes: Wakes
    _tasks: dict[str, asyncio.Task[None]]
    _leases: asyncio.Task[None] | None

    @abc.abstractmethod
    def launch(self, job_id: str, *, resumed: bool = False) -> None: ...

    @property
    @abc.abstractmethod
    def webhook_grace(self) -> float | None: ...

    async def fal_finished(self, request_id: str) -> None:
        """fal says this request finished (its webhook; idempotent). A job this replica
        follows asks fal at once; a parked one, or one whose lease lapsed, is claimed and taken
        up here; one another replica holds is left to it, as is a finished job or a request
        no job knows."""
        job = await self.store.job_by_request(request_id)
        if job is None or (job.finished and job.card_done):
            return
        if job.id in self._tasks:
            self.wakes.wake(job.id)
        elif not await self.take_over(job):
            log.info("fal finished a job another replica holds job=%s", job.id)

    async def take_over(self, job: Job) -> bool:
        """Claim a job nobody drives (parked, or its lease lapsed) and go on with it here;
        False when another replica holds it."""
        if not await self.store.claim_job(job.id):
            return False
        self._take_up(job)
        return True

    def _take_up(self, job: Job) -> None:
        if job.slot_at is not None and job.state in (JobState.HELD, JobState.SUBMITTED):
            self.slots.take(job.id, job.user_id)  # counted at fal already
        self.launch(job.id, resumed=True)

    async def _park(self, job: Job) -> None:
        """Let the job just submitted go until fal's webhook, or the grace, whichever first.
        A webhook that came while parking found the job still held here: fal's status, asked
        once after parking, catches it (the job is then taken back and goes on)."""
        grace = self.webhook_grace
        if grace is None or job.state != JobState.SUBMITTED or job.cancel_requested_at:
            return
        if not await self.store.park(job.id, grace):
            return
        log_state(self.store.clock(), job, "parked", grace_s=grace)
        try:
            state = await self.provider.status(submission_of(job))
        except ProviderError:
            raise Parked from None
        if isinstance(state, Finished) and await self.store.claim_job(job.id):
            return
        raise Parked

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
            if job is not None:
                self._take_up(job)
        if job_ids:
            log.info("resumed %d unfinished jobs", len(job_ids))
        return len(job_ids)

    async def _keep_leases(self) -> None:
        """Renew every third of a lease; claim more often, so that jobs a stopping replica
        let go are taken over within seconds (a lapsed lease: within the lease period)."""
        renew_every = self.store.lease_seconds / 3
        claim_every = min(renew_every, CLAIM_EVERY_SECONDS)
        renewed = time.monotonic()
        while True:
            await asyncio.sleep(claim_every)
            try:
                if time.monotonic() - renewed >= renew_every - claim_every / 2:
                    await self._renew()
                    renewed = time.monotonic()
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

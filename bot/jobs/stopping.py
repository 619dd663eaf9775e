"""How a job at fal ends when it does not simply finish: a cancel fal was asked for, the
deadline, a refusal fal billed. fal's word decides the charge: a job is free only when fal
stopped it before it ran; otherwise it costs what fal billed (the estimate until fal says).

A mixin of the Runner, which supplies the steps declared abstract here.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from datetime import datetime
from decimal import Decimal
from typing import NoReturn

from bot.domain.failures import ErrorKind
from bot.jobs.cards import Card, final_status
from bot.jobs.delivery import Delivery
from bot.jobs.slots import Slots
from bot.providers.base import Finished, ImageProvider, ProviderError, Submission
from bot.slack.client import SlackError
from bot.slack.views.card import Cancelling, CardStatus
from bot.store import Bill, Job, JobState, Store

log = logging.getLogger("bot.jobs")


class Stop(Exception):
    """The job ended (failed or cancelled) and the person has been told."""


class Stopping(abc.ABC):
    store: Store
    provider: ImageProvider
    slots: Slots
    delivery: Delivery
    cancel_grace: float
    _tasks: dict[str, asyncio.Task[None]]
    _submitting: set[str]
    _cancelling: set[str]
    _cancel_locks: dict[str, asyncio.Lock]

    @abc.abstractmethod
    def _card(self, job: Job) -> Card: ...

    @abc.abstractmethod
    async def _reload(self, job_id: str) -> Job: ...

    @abc.abstractmethod
    async def _follow(self, job: Job, card_: Card, submission: Submission) -> Finished: ...

    @abc.abstractmethod
    async def _finish_card(self, job: Job, status: CardStatus) -> None: ...

    @abc.abstractmethod
    async def _fail_provider(self, job: Job, exc: ProviderError) -> NoReturn: ...

    @abc.abstractmethod
    async def _fail(
        self, job_id: str, kind: ErrorKind, detail: str | None, *, bill: Bill | None = None
    ) -> NoReturn: ...

    async def cancel(self, job: Job, by: str) -> bool:
        """Cancel a job fal has not started; False when it is too late (fal is running it).

        A job no submit has left for ends here, free. One fal may hold is only asked to stop:
        fal answers 202 for a queued request and a running one alike, and only its next
        status says whether it ran, so the job's own task ends it when fal has said.
        """
        async with self.cancel_lock(job.id):
            job = await self._reload(job.id)
            if (
                job.started_at is not None
                or job.cancel_requested_at is not None
                or job.state not in (JobState.HELD, JobState.SUBMITTED)
            ):
                return False
            if job.state == JobState.HELD and await self._cancel_unsent(job, by):
                return True
            at_fal = job.state == JobState.SUBMITTED
            if at_fal and await self.provider.cancel(submission_of(job)) == "too_late":
                return False
            if not await self.store.mark_cancel_requested(job.id, by):
                return False
            log_state(self.store.clock(), job, "cancelling", by=by)
            self._cancelling.add(job.id)
        await self._card(job).show(Cancelling(by))
        return True

    def cancel_lock(self, job_id: str) -> asyncio.Lock:
        """Held while a cancel decides, and while the job reads whether one was asked for:
        the job never misses a cancel that fal has already taken."""
        return self._cancel_locks.setdefault(job_id, asyncio.Lock())

    async def _cancel_unsent(self, job: Job, by: str) -> bool:
        """End a job whose submit has not left (the store decides, against the submit)."""
        if job.id in self._submitting or not await self.store.mark_cancelled(
            job.id, by, unsent=True
        ):
            return False
        log_state(self.store.clock(), job, "cancelled", by=by)
        task = self._tasks.get(job.id)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 60)
        self.delivery.drop(job.id)
        job = await self._reload(job.id)
        with contextlib.suppress(SlackError):
            await self._finish_card(job, final_status(job))
        return True

    async def _bill(self, endpoint_id: str, units: object) -> Bill:
        """fal's units at fal's unit price; the estimate when fal said nothing."""
        if not isinstance(units, Decimal):
            return Bill.estimate()
        return Bill(await self.provider.cost_micros(endpoint_id, units), units)

    async def _after_cancel(self, job: Job, submission: Submission, finished: Finished) -> None:
        """fal is done with a request it was asked to cancel: end the job at what fal billed.
        Free only if fal stopped it before it ran (no IN_PROGRESS seen, no inference time,
        no billable units). Returns only when the deadline asked and fal finished it anyway:
        it is billed, so it is delivered."""
        by = job.cancel_requested_by
        if by is None and finished.error is None:
            return
        units = await self.provider.bill(submission)
        ran = job.started_at is not None or finished.ran or finished.error is None or bool(units)
        bill = await self._bill(job.endpoint_id, units) if ran else None
        if by is None:
            await self._fail(job.id, ErrorKind.TIMEOUT, None, bill=bill)
        if await self.store.mark_cancelled(job.id, by, bill=bill, after_start=ran):
            log_state(self.store.clock(), job, "cancelled", by=by, after_start=ran, bill=bill)
        self.slots.release(job.id)
        self.delivery.drop(job.id)
        job = await self._reload(job.id)
        await self._finish_card(job, final_status(job))
        raise Stop

    async def _time_out(self, job: Job, card_: Card, submission: Submission) -> Finished:
        """Past the deadline: ask fal to cancel, and give it a little while to say how the
        request ended (it may have finished while the bot was down). If fal says nothing, stop
        waiting and count the estimate: fal bills what it ran."""
        if await self.provider.cancel(submission) != "too_late":
            await self.store.mark_cancel_requested(job.id, None)
        try:
            async with asyncio.timeout(self.cancel_grace):
                return await self._follow(job, card_, submission)
        except TimeoutError:
            pass
        except ProviderError as exc:
            await self._fail_provider(job, exc)
        await self._fail(job.id, ErrorKind.OVERDUE, None, bill=Bill.estimate())


def log_state(now: datetime, job: Job, state: str, **fields: object) -> None:
    """One structured line per transition: job, person, state, seconds since the request
    (on the store's clock, which every deadline and period is measured on)."""
    age = (now - job.created_at).total_seconds()
    extra = "".join(f" {name}={value}" for name, value in fields.items())
    log.info("job state=%s job=%s user=%s age_s=%.2f%s", state, job.id, job.user_id, age, extra)


def submission_of(job: Job) -> Submission:
    return Submission(
        job.fal_request_id or "", job.fal_status_url or "", job.fal_result_url or "",
        job.fal_cancel_url or "",
    )  # fmt: skip

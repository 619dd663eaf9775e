"""How a job at fal ends when it does not simply finish: a cancel fal was asked for, the
deadline, a refusal fal billed. fal's word decides the charge: a job is free only when fal
stopped it before it ran; otherwise it costs what fal billed (the estimate until fal says).

Also every other ending of a job: a failure (told on its card, or privately when it has
none), and Slack refusing the card or the upload. A mixin of the Runner, which supplies the
steps declared abstract here.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NoReturn

from bot.domain.failures import ErrorKind, failure_text, undeliverable_text
from bot.jobs.cards import Card, final_status
from bot.jobs.delivery import Delivery
from bot.jobs.slots import Slots
from bot.providers.base import Finished, ImageProvider, ProviderError, Submission
from bot.slack.client import SlackError
from bot.slack.notifier import Notifier, Requester
from bot.slack.views.card import Cancelling, CardStatus, Failed
from bot.store import Bill, Job, JobState, LeaseLost, Store

log = logging.getLogger("bot.jobs")


class Stop(Exception):
    """The job ended (failed or cancelled) and the person has been told."""


@dataclass(frozen=True)
class RunnerHooks:
    """Who else hears of a job's moments (notices, admins); their failures never stop a job."""

    on_settled: Callable[[Job], Awaitable[None]] | None = None
    on_locked: Callable[[str], Awaitable[None]] | None = None


class Stopping(abc.ABC):
    store: Store
    provider: ImageProvider
    notifier: Notifier
    hooks: RunnerHooks
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
    async def take_over(self, job: Job) -> bool: ...

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
        if at_fal and job.id not in self._tasks:
            # Parked while fal works (webhooks): follow it now, to end it as fal says.
            await self.take_over(job)
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
        # A job another replica holds: that replica ends its card (this one says so at once).
        with contextlib.suppress(SlackError, LeaseLost):
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

    # --- endings ---------------------------------------------------------------------------

    async def _finish_card(self, job: Job, status: CardStatus) -> None:
        try:
            await self._card(job).finish(status)
        except SlackError as exc:
            if not exc.permanent:
                raise
            log.warning("final card update impossible job=%s error=%s", job.id, exc.code)
        if job.state == JobState.DELIVERED:
            await self.delivery.offer_actions(job)
        await self.store.mark_card_done(job.id)

    async def _fail(
        self, job_id: str, kind: ErrorKind, detail: str | None, *, bill: Bill | None = None
    ) -> NoReturn:
        """End the job as failed: free, or charged `bill` when fal billed the attempt."""
        job = await self._reload(job_id)
        ended = await self.store.mark_failed(job.id, kind, detail or kind, bill=bill)
        if ended:
            log_state(self.store.clock(), job, "failed", kind=kind, bill=bill)
        self.slots.release(job.id)
        self.delivery.drop(job.id)
        job = await self._reload(job.id)
        message = failure_text(
            kind, detail, job.id, charged_micros=job.charged_micros, estimated=job.charge_estimated
        )
        if job.card_ts is None:
            await self._tell(job, message)
        else:
            await self._finish_card(job, Failed(message))
        raise Stop

    async def _fail_provider(self, job: Job, exc: ProviderError) -> NoReturn:
        if exc.kind == ErrorKind.ACCOUNT_LOCKED and self.hooks.on_locked is not None:
            await quietly(self.hooks.on_locked(exc.detail or exc.message), job.id)
        category = getattr(exc, "category", "")
        # A refusal fal billed (a 422 after its runner worked) is charged, at fal's units.
        bill = await self._bill(job.endpoint_id, exc.billed_units) if exc.billed_units else None
        await self._fail(job.id, exc.kind, category or exc.detail or exc.message, bill=bill)

    async def _fail_unplaceable(self, job: Job, exc: SlackError) -> NoReturn:
        """The card cannot be posted where the person asked: tell them privately."""
        await self.store.mark_failed(job.id, ErrorKind.SLACK, exc.code)
        log_state(self.store.clock(), job, "failed", kind=ErrorKind.SLACK.stored(exc.code))
        await self._tell(job, undeliverable_text(exc.code, before_start=True))
        raise Stop

    async def _undeliverable(self, job: Job, exc: SlackError) -> NoReturn:
        await self.store.mark_failed(job.id, ErrorKind.SLACK, exc.code)
        log_state(self.store.clock(), job, "failed", kind=ErrorKind.SLACK.stored(exc.code))
        self.delivery.drop(job.id)
        await self._tell(job, undeliverable_text(exc.code, before_start=False))
        raise Stop

    async def _tell(self, job: Job, text: str) -> None:
        """Reach the person when their card cannot: response_url, else a DM (not the
        channel, which could not take the card)."""
        who = Requester(job.user_id, team_id=job.team_id, response_url=job.response_url)
        await self.notifier.tell(who, text, once=f"told:{job.id}")
        await self.store.mark_card_done(job.id)


async def quietly(hook: Awaitable[None], job_id: str) -> None:
    try:
        await hook
    except Exception:
        log.exception("a job hook failed job=%s", job_id)


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

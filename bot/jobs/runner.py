"""The runner: takes admitted jobs through submit -> wait -> fetch -> deliver, and resumes them.

Every step reads the job from the store, does one outside call, and stores the outcome before
the next, so a killed process picks up where it stopped. Where an outside call may have landed
without its outcome being stored (a card posted, files uploaded), the resumed job looks in
Slack for what it already posted before posting again.

Replicas share the work through leases (bot.store.leases): a replica drives only the jobs it
holds, renews them while it works, claims those whose lease lapsed (a replica died), and drops
a job quietly when the store says another replica holds it now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from bot.domain.failures import ErrorKind
from bot.jobs.cards import Card, UpdateBudget, final_status, model_note
from bot.jobs.claims import Claims, Parked
from bot.jobs.delivery import Delivery, Undeliverable
from bot.jobs.inputs import InputError, InputResolver
from bot.jobs.slots import Slots
from bot.jobs.stopping import RunnerHooks as RunnerHooks
from bot.jobs.stopping import Stop as _Stop
from bot.jobs.stopping import Stopping, quietly, submission_of
from bot.jobs.stopping import log_state as log_state
from bot.jobs.waking import Wakes, until_woken
from bot.providers.base import (
    Finished,
    ImageProvider,
    ProviderError,
    Queued,
    Running,
    Submission,
    SubmitGuard,
    Unavailable,
)
from bot.providers.polling import Durations
from bot.providers.profiles import InputsOutsideSchema
from bot.slack.client import SlackError, SlackOut
from bot.slack.notifier import Notifier
from bot.slack.views.card import (
    Cancelling,
    CardStatus,
    Generating,
    InQueue,
    Starting,
    Uploading,
    Waiting,
    card,
)
from bot.store import Job, JobState, LeaseLost, Store

log = logging.getLogger("bot.jobs")

# Pauses before trying a job's step again after an unexpected error (fal may have billed it).
STEP_RETRIES = (5.0, 15.0, 60.0, 300.0)
# How often a job held back by the limits of jobs at fal (counted across replicas) asks again.
SLOT_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class RunnerConfig:
    max_at_fal: int = 8
    max_per_user: int = 2
    deadline_seconds: float = 600.0
    card_interval: float = 3.0
    card_updates_per_minute: float = 50.0
    spool: Path = Path("imagebot-spool")
    # fal reports by webhook (IMAGEBOT_PUBLIC_URL): how long a job submitted waits for it
    # before a replica follows it at fal by its status. None: followed from the submit on.
    webhook_grace: float | None = None

    @property
    def cancel_grace(self) -> float:
        """How long fal gets, after a deadline's cancel, to say how the request ended."""
        return min(60.0, self.deadline_seconds / 4)


class Runner(Claims, Stopping):
    def __init__(
        self,
        store: Store,
        provider: ImageProvider,
        slack: SlackOut,
        notifier: Notifier,
        config: RunnerConfig,
        inputs: InputResolver,
        hooks: RunnerHooks | None = None,
    ) -> None:
        self.store = store
        self.provider = provider
        self.slack = slack
        self.notifier = notifier
        self.config = config
        self.inputs = inputs
        self.hooks = hooks or RunnerHooks()
        self.delivery = Delivery(store, provider, slack, config.spool)
        self.cancel_grace = config.cancel_grace
        self.slots = Slots(config.max_at_fal, config.max_per_user)
        self.durations = Durations()
        self._budget = UpdateBudget(config.card_updates_per_minute)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cards: dict[str, Card] = {}
        self._started: dict[str, float] = {}
        # Jobs whose submit may be on the wire: cancelling their task could lose a fal request.
        self._submitting: set[str] = set()
        # Jobs fal was asked to cancel: their cards say so until fal says how they ended.
        self._cancelling: set[str] = set()
        self._cancel_locks: dict[str, asyncio.Lock] = {}
        self._leases: asyncio.Task[None] | None = None  # renewing and claiming, once resumed
        self.wakes = Wakes()
        self.accepting = True

    # --- lifecycle -------------------------------------------------------------------------

    async def stop(self, grace: float = 5.0) -> None:
        """Stop working and let go of every job at once: they stay in the store exactly where
        they were, for another replica (or the next start) to take over."""
        self.accepting = False
        if self._leases is not None:
            self._leases.cancel()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        await self._release()

    def healthy(self) -> bool:
        return self.accepting and not (self._leases is not None and self._leases.done())

    @property
    def webhook_grace(self) -> float | None:
        return self.config.webhook_grace

    @property
    def active(self) -> int:
        return len(self._tasks)

    def launch(self, job_id: str, *, resumed: bool = False) -> None:
        if job_id in self._tasks or not self.accepting:
            return
        task = asyncio.create_task(self._run(job_id, resumed), name=f"job-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _: self._forget(job_id))

    def _forget(self, job_id: str) -> None:
        self._tasks.pop(job_id, None)
        card = self._cards.pop(job_id, None)
        if card is not None:
            card.abandon()
        self._started.pop(job_id, None)
        self._cancelling.discard(job_id)
        self._cancel_locks.pop(job_id, None)
        self.wakes.forget(job_id)
        self.slots.release(job_id)

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.wait(list(self._tasks.values()))

    # --- one job ---------------------------------------------------------------------------

    async def _run(self, job_id: str, resumed: bool) -> None:
        """Step the job to its end. A surprise before fal has it fails the job (nothing was
        spent); after, the step is tried again later, since fal may have billed it."""
        for pause in (*STEP_RETRIES, None):
            try:
                job = await self._reload(job_id)
                while not (job.finished and job.card_done):
                    job = await self._step(job, resumed)
                return
            except (asyncio.CancelledError, _Stop, Parked):
                return
            except LeaseLost as lost:
                log.info("job left to another replica job=%s owner=%s", job_id, lost.owner)
                return
            except Exception:
                log.exception("job step failed unexpectedly job=%s", job_id)
            job = await self._reload(job_id)
            if job.state == JobState.HELD and job.submit_sent_at is None:
                with contextlib.suppress(_Stop, Exception):
                    await self._fail(job_id, ErrorKind.INTERNAL, None)
                return
            if pause is None:
                log.error("job left to resume on the next start job=%s state=%s", job_id, job.state)
                return
            resumed = True
            await asyncio.sleep(pause)

    async def _step(self, job: Job, resumed: bool) -> Job:
        if job.finished:
            await self._finish_card(job, final_status(job))
        elif job.card_ts is None:
            await self._post_card(job, resumed)
        elif job.state == JobState.HELD:
            await self._submit(job)
            await self._park(await self._reload(job.id))
        elif job.state == JobState.SUBMITTED:
            await self._wait_at_fal(job)
        elif job.state == JobState.GENERATED:
            await self._deliver(job)
        return await self._reload(job.id)

    async def _reload(self, job_id: str) -> Job:
        job = await self.store.get_job(job_id)
        if job is None:
            raise LookupError(f"job {job_id} vanished from the store")
        if job.id in self._cards:
            self._cards[job.id].set_job(job)
        return job

    def _card(self, job: Job) -> Card:
        if job.id not in self._cards:
            self._cards[job.id] = Card(
                self.slack, job, self._budget, self.config.card_interval,
                started=lambda: self._started.get(job.id),
                ahead=lambda: self.slots.ahead_of(job.id),
                model=model_note(self.provider.catalog, job),
            )  # fmt: skip
        return self._cards[job.id]

    async def _post_card(self, job: Job, resumed: bool) -> None:
        thread = job.thread_ts
        status: CardStatus = Waiting(self.slots.waiting) if self.slots.waiting else Starting()
        text, blocks = card(job, status, model=model_note(self.provider.catalog, job))
        ts = await self._posted_before(job, thread) if resumed else None
        if ts is None:
            try:
                ts = await self.slack.post_job_message(
                    job.channel_id, text, blocks, job_id=job.id, thread_ts=thread
                )
            except SlackError as exc:
                await self._fail_unplaceable(job, exc)
        await self.store.set_card(job.id, ts, thread or ts)
        log_state(self.store.clock(), job, "card", channel=job.channel_id)

    async def _posted_before(self, job: Job, thread: str | None) -> str | None:
        """The card an interrupted run may have posted without storing its ts."""
        oldest = job.created_at.timestamp() - 60
        try:
            return await self.slack.find_job_message(
                job.channel_id, job.id, thread_ts=thread, oldest=oldest
            )
        except SlackError as exc:
            log.warning("could not look for an earlier card job=%s error=%s", job.id, exc.code)
            return None

    async def _submit(self, job: Job) -> None:
        card_ = self._card(job)
        await self._wait_for_slot(job, card_)
        try:
            image_urls, mask_url = await self.inputs.resolve(job)
            arguments = self.provider.arguments(job.kind, job.request, image_urls, mask_url)
        except InputError as exc:
            await self._fail(job.id, ErrorKind.INPUT_UNAVAILABLE, exc.message)
        except InputsOutsideSchema as exc:
            log.error("inputs outside the endpoint's schema job=%s: %s", job.id, exc)
            await self._fail(job.id, ErrorKind.INTERNAL, None)
        self._submitting.add(job.id)
        try:
            # Once marked, fal may hold a request for the job: a retry looks there first.
            if not await self.store.mark_submit_sent(job.id):
                return  # cancelled before anything left (on another replica, too): its card ends
            await self.store.record_arguments(job.id, arguments)
            guard = SubmitGuard(job.submit_sent_at, self.store.request_taken)
            submission = await self.provider.submit(job.endpoint_id, arguments, guard)
            stored = await self.store.mark_submitted(
                job.id, submission.request_id, submission.status_url,
                submission.result_url, submission.cancel_url,
            )  # fmt: skip
        except ProviderError as exc:
            await self._fail_provider(job, exc)
        finally:
            self._submitting.discard(job.id)
        if not stored:
            # The job ended while its submit was on its way: fal must not run it for nobody.
            await self.provider.cancel(submission)
            raise _Stop
        log_state(self.store.clock(), job, "submitted", request=submission.request_id)

    async def _wait_for_slot(self, job: Job, card_: Card) -> None:
        """This replica's line first (in arrival order), then the limits as the database
        counts them over every replica."""
        if not self.slots.try_take(job.id, job.user_id):
            waiter = self.slots.enqueue(job.id, job.user_id)
            try:
                if not waiter.granted.is_set():
                    await card_.show(Waiting(self.slots.ahead_of(job.id)))
                    await waiter.granted.wait()
            except BaseException:
                self.slots.leave(waiter)
                raise
        limits = (self.config.max_at_fal, self.config.max_per_user)
        shown = False
        while not await self.store.take_slot(job.id, job.user_id, *limits):
            if not shown:
                await card_.show(Waiting(0))
                shown = True
            await asyncio.sleep(SLOT_POLL_SECONDS)

    async def _wait_at_fal(self, job: Job) -> None:
        """Follow the job at fal until fal is done with it, or until its deadline."""
        card_ = self._card(job)
        submission = submission_of(job)
        async with self.cancel_lock(job.id):
            job = await self._reload(job.id)
        if job.cancel_requested_at is not None:
            # Asked before a restart, or while the submit was on its way: make sure fal heard.
            await self.provider.cancel(submission)
            if job.cancel_requested_by is not None:
                self._cancelling.add(job.id)
                await card_.show(Cancelling(job.cancel_requested_by))
        deadline = (job.submitted_at or job.created_at).timestamp() + self.config.deadline_seconds
        left = deadline - self.store.clock().timestamp()
        try:
            async with asyncio.timeout(max(0.0, left)):
                finished = await self._follow(job, card_, submission)
        except TimeoutError:
            finished = await self._time_out(job, card_, submission)
        except ProviderError as exc:
            await self._fail_provider(job, exc)
        async with self.cancel_lock(job.id):
            job = await self._reload(job.id)
        if job.cancel_requested_at is not None:
            await self._after_cancel(job, submission, finished)
        await self._collect(job, submission)

    async def _follow(self, job: Job, card_: Card, submission: Submission) -> Finished:
        """fal's status until it is done; IN_PROGRESS marks the job started (no more Cancel)."""
        key = (job.endpoint_id, job.request.quality or "")
        running_since: float | None = None
        watch = until_woken(
            self.provider.watch(submission, await self._expected(key)),
            self.wakes.event(job.id),
            lambda: self.provider.status(submission),
        )
        async with contextlib.aclosing(watch) as states:
            async for state in states:
                if isinstance(state, Finished):
                    if running_since is not None:
                        self.durations.add(key, time.monotonic() - running_since)
                    return state
                started = isinstance(state, Running) and running_since is None
                if started:
                    running_since = time.monotonic()
                    self._started[job.id] = running_since
                    await self.store.mark_started(job.id)
                if job.id in self._cancelling:
                    continue
                if isinstance(state, Queued):
                    await card_.show(InQueue(state.position, self.provider.name))
                elif started:
                    await card_.show(Generating(0))
        raise Unavailable("fal's status ended before the request was done")

    async def _expected(self, key: tuple[str, str]) -> float | None:
        if not self.durations.known(key):
            self.durations.seed(key, await self.store.recent_durations(*key))
        return self.durations.expected(key)

    async def _collect(self, job: Job, submission: Submission) -> None:
        """Fetch the result and its bill, keep the images on disk, settle the charge."""
        try:
            generation = await self.provider.result(submission)
            images = await self.delivery.fetch(job, generation)
        except ProviderError as exc:
            await self._fail_provider(job, exc)
        units = generation.billed_units
        if units is None:
            log.warning("fal reported no billable units job=%s: settling the estimate", job.id)
        bill = await self._bill(job.endpoint_id, units)
        await self.store.mark_generated(job.id, images, units, bill.micros)
        self.slots.release(job.id)
        log_state(self.store.clock(), job, "generated", units=units, images=len(images))
        if self.hooks.on_settled is not None:
            await quietly(self.hooks.on_settled(await self._reload(job.id)), job.id)

    async def _deliver(self, job: Job) -> None:
        await self._card(job).show(Uploading())
        try:
            file_ids = await self.delivery.deliver(job)
        except Undeliverable as exc:
            await self._undeliverable(job, exc.error)
        await self.store.mark_delivered(job.id, file_ids)
        self.delivery.drop(job.id)
        log_state(self.store.clock(), job, "delivered", files=len(file_ids))

"""The runner: takes admitted jobs through submit -> wait -> fetch -> deliver, and resumes them.

Every step reads the job from the store, does one outside call, and stores the outcome before
the next, so a killed process picks up where it stopped. Where an outside call may have landed
without its outcome being stored (a card posted, files uploaded), the resumed job looks in
Slack for what it already posted before posting again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import NoReturn

from bot.blocks import (
    Cancelled,
    CardStatus,
    Done,
    Failed,
    Generating,
    InQueue,
    Starting,
    Uploading,
    Waiting,
    card,
    image_file_name,
    image_title,
)
from bot.jobs.cards import Card, UpdateBudget
from bot.jobs.inputs import InputError, InputResolver
from bot.jobs.polling import Durations, PollPlan
from bot.jobs.slots import Slots
from bot.jobs.texts import failure_text, undeliverable_text
from bot.provider import (
    Finished,
    ImageProvider,
    ProviderError,
    ProviderTimeout,
    Queued,
    Running,
    Submission,
)
from bot.slack import SlackError, SlackOut, UploadFile
from bot.store import Job, JobState, ResultImage, Store

log = logging.getLogger("bot.jobs")

_DELIVERY_BACKOFF = (2.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0)


@dataclass(frozen=True)
class RunnerConfig:
    max_at_fal: int = 8
    max_per_user: int = 2
    deadline_seconds: float = 600.0
    card_interval: float = 3.0
    card_updates_per_minute: float = 50.0
    spool: Path = Path("imagebot-spool")


@dataclass(frozen=True)
class RunnerHooks:
    """Who else hears of a job's moments (notices, admins); their failures never stop a job."""

    on_settled: Callable[[Job], Awaitable[None]] | None = None
    on_locked: Callable[[str], Awaitable[None]] | None = None


class _Stop(Exception):
    """The job ended (failed or cancelled) and its card has been told."""


class Runner:
    def __init__(
        self,
        store: Store,
        provider: ImageProvider,
        slack: SlackOut,
        config: RunnerConfig,
        inputs: InputResolver,
        hooks: RunnerHooks | None = None,
    ) -> None:
        self.store = store
        self.provider = provider
        self.slack = slack
        self.config = config
        self.inputs = inputs
        self.hooks = hooks or RunnerHooks()
        self.slots = Slots(config.max_at_fal, config.max_per_user)
        self.durations = Durations()
        self._budget = UpdateBudget(config.card_updates_per_minute)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cards: dict[str, Card] = {}
        self._started: dict[str, float] = {}
        self.accepting = True

    # --- lifecycle -------------------------------------------------------------------------

    async def resume(self) -> int:
        """Pick up every job a previous run left unfinished; returns how many."""
        jobs = await self.store.unfinished_jobs()
        for job in jobs:
            if job.state == JobState.SUBMITTED:
                self.slots.take(job.id, job.user_id)
            self.launch(job.id, resumed=True)
        if jobs:
            log.info("resumed %d unfinished jobs", len(jobs))
        return len(jobs)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop working; jobs stay in the store exactly where they were and resume next start."""
        self.accepting = False
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=grace)

    def healthy(self) -> bool:
        return self.accepting

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
        self._cards.pop(job_id, None)
        self._started.pop(job_id, None)
        self.slots.release(job_id)

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.wait(list(self._tasks.values()))

    # --- cancel ----------------------------------------------------------------------------

    async def cancel(self, job: Job, by: str) -> bool:
        """Cancel a job that has not been generated yet; False when it is too late."""
        if job.state == JobState.SUBMITTED and job.fal_cancel_url:
            taken = await self.provider.cancel(_submission(job))
            if not taken:
                return False
        if not await self.store.mark_cancelled(job.id, by):
            return False
        task = self._tasks.get(job.id)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._drop_spool(job.id)
        await self._finish_card(await self._reload(job.id), Cancelled(by))
        return True

    # --- one job ---------------------------------------------------------------------------

    async def _run(self, job_id: str, resumed: bool) -> None:
        try:
            job = await self._reload(job_id)
            while not (job.finished and job.card_done):
                job = await self._step(job, resumed)
        except asyncio.CancelledError:
            raise
        except _Stop:
            pass
        except Exception:
            log.exception("job failed unexpectedly job=%s", job_id)
            await self._fail(job_id, "internal", None)

    async def _step(self, job: Job, resumed: bool) -> Job:
        if job.finished:
            await self._finish_card(job, _final_status(job))
        elif job.card_ts is None:
            await self._post_card(job, resumed)
        elif job.state == JobState.HELD:
            await self._submit(job)
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
                lambda: self._started.get(job.id),
            )  # fmt: skip
        return self._cards[job.id]

    async def _post_card(self, job: Job, resumed: bool) -> None:
        thread = job.thread_ts if job.kind == "edit" or job.thread_ts else None
        status: CardStatus = Waiting(self.slots.waiting) if self.slots.waiting else Starting()
        text, blocks = card(job, status)
        ts = None
        if resumed:
            oldest = job.created_at.timestamp() - 60
            ts = await self.slack.find_job_message(
                job.channel_id, job.id, thread_ts=thread, oldest=oldest
            )
        if ts is None:
            try:
                ts = await self.slack.post_job_message(
                    job.channel_id, text, blocks, job_id=job.id, thread_ts=thread
                )
            except SlackError as exc:
                await self._fail_unplaceable(job, exc)
        await self.store.set_card(job.id, ts, thread or ts)
        log.info("job card posted job=%s user=%s channel=%s", job.id, job.user_id, job.channel_id)

    async def _submit(self, job: Job) -> None:
        card_ = self._card(job)
        if not self.slots.try_take(job.id, job.user_id):
            waiter = self.slots.enqueue(job.id, job.user_id)
            try:
                while not waiter.granted:
                    waiter.changed.clear()
                    await card_.show(Waiting(self.slots.ahead_of(job.id)))
                    if not waiter.granted:
                        await waiter.changed.wait()
            except BaseException:
                self.slots.leave(waiter)
                raise
        try:
            image_urls, mask_url = await self.inputs.resolve(job)
        except InputError as exc:
            await self._fail(job.id, "invalid_input", exc.message)
        arguments = self.provider.arguments(job.kind, job.request, image_urls, mask_url)
        try:
            submission = await self.provider.submit(job.endpoint_id, arguments)
        except ProviderError as exc:
            await self._fail_provider(job, exc)
        await self.store.mark_submitted(
            job.id, submission.request_id, submission.status_url,
            submission.result_url, submission.cancel_url,
        )  # fmt: skip
        log.info(
            "job submitted job=%s user=%s request=%s", job.id, job.user_id, submission.request_id
        )
        await card_.show(InQueue(submission.queue_position or 0, self.provider.name))

    async def _wait_at_fal(self, job: Job) -> None:
        card_ = self._card(job)
        submission = _submission(job)
        key = (job.endpoint_id, job.request.quality)
        plan = PollPlan(await self._expected(key))
        deadline = (job.submitted_at or job.created_at) + timedelta(
            seconds=self.config.deadline_seconds
        )
        delay, late = plan.first_delay(), 0
        running_since: float | None = None
        while True:
            await asyncio.sleep(delay)
            if _now(job) > deadline:
                await self._time_out(job, submission)
            try:
                state = await self.provider.status(submission)
            except ProviderError as exc:
                if not exc.retryable:
                    await self._fail_provider(job, exc)
                log.warning("status poll failed job=%s: %s", job.id, exc.message)
                delay = 5.0
                continue
            if isinstance(state, Queued):
                await card_.show(InQueue(state.position, self.provider.name))
                delay = plan.queued_delay()
            elif isinstance(state, Running):
                if running_since is None:
                    running_since = time.monotonic()
                    self._started[job.id] = running_since
                    await self.store.mark_started(job.id)
                    await card_.show(Generating(0))
                running_for = time.monotonic() - running_since
                delay = plan.running_delay(running_for, late)
                late += (
                    1
                    if plan.expected_seconds is None or running_for >= plan.expected_seconds
                    else 0
                )
            elif isinstance(state, Finished):
                if running_since is not None:
                    self.durations.add(key, time.monotonic() - running_since)
                await self._collect(job, submission)
                return

    async def _expected(self, key: tuple[str, str]) -> float | None:
        if not self.durations.known(key):
            self.durations.seed(key, await self.store.recent_durations(*key))
        return self.durations.expected(key)

    async def _collect(self, job: Job, submission: Submission) -> None:
        """Fetch the result and its bill, keep the images on disk, settle the charge."""
        try:
            generation = await self.provider.result(submission)
            folder = self.config.spool / job.id
            folder.mkdir(parents=True, exist_ok=True)
            images = []
            for index, output in enumerate(generation.images, start=1):
                path = folder / image_file_name(job.id, index, job.request.output_format)
                size = await self.provider.download(output.url, path)
                images.append(
                    ResultImage(
                        url=output.url, content_type=output.content_type, width=output.width,
                        height=output.height, file_name=output.file_name,
                        spool_path=str(path.resolve()), size=size,
                    )
                )  # fmt: skip
        except ProviderError as exc:
            await self._fail_provider(job, exc)
        units = generation.billed_units
        cost = None if units is None else self.provider.prices.cost_micros(job.endpoint_id, units)
        if units is None:
            log.warning("fal reported no billable units job=%s: settling the estimate", job.id)
        await self.store.mark_generated(job.id, images, units, cost)
        self.slots.release(job.id)
        if self.hooks.on_settled is not None:
            await _quietly(self.hooks.on_settled(await self._reload(job.id)), job.id)
        log.info(
            "job generated job=%s user=%s units=%s images=%d",
            job.id,
            job.user_id,
            units,
            len(images),
        )

    async def _deliver(self, job: Job) -> None:
        card_ = self._card(job)
        await card_.show(Uploading())
        for attempt, pause in enumerate((*_DELIVERY_BACKOFF, None)):
            try:
                file_ids = await self._upload(job)
                break
            except SlackError as exc:
                if exc.permanent or pause is None:
                    await self._undeliverable(job, exc)
                log.warning(
                    "upload failed job=%s attempt=%d error=%s", job.id, attempt + 1, exc.code
                )
                await asyncio.sleep(pause)
        await self.store.mark_delivered(job.id, file_ids)
        self._drop_spool(job.id)
        log.info("job delivered job=%s user=%s files=%d", job.id, job.user_id, len(file_ids))

    async def _upload(self, job: Job) -> list[str]:
        assert job.card_ts is not None
        thread = job.thread_ts or job.card_ts
        prefix = f"imagebot-{job.id}-"
        if job.upload_started:
            found = await self.slack.find_job_files(job.channel_id, thread, prefix)
            if len(found) >= len(job.images):
                return found
        files = [
            UploadFile(
                filename=image_file_name(job.id, index, job.request.output_format),
                title=image_title(job, index),
                alt_text=job.prompt[:1000] or "generated image",
                path=Path(image.spool_path or ""),
            )
            for index, image in enumerate(job.images, start=1)
        ]
        missing = [f.path for f in files if f.path is None or not f.path.is_file()]
        if missing:
            raise SlackError("images_missing_from_spool", "files.upload")
        await self.store.mark_upload_started(job.id)
        return await self.slack.upload(job.channel_id, thread, files, None)

    # --- endings ---------------------------------------------------------------------------

    async def _finish_card(self, job: Job, status: CardStatus) -> None:
        card_ = self._card(job)
        try:
            await card_.finish(status)
        except SlackError as exc:
            if not exc.permanent:
                raise
            log.warning("final card update impossible job=%s error=%s", job.id, exc.code)
        await self.store.mark_card_done(job.id)

    async def _fail(self, job_id: str, kind: str, detail: str | None) -> NoReturn:
        job = await self._reload(job_id)
        message = failure_text(kind, detail, job.id)
        if await self.store.mark_failed(job.id, kind, detail or kind):
            log.info("job failed job=%s user=%s kind=%s", job.id, job.user_id, kind)
        self.slots.release(job.id)
        self._drop_spool(job.id)
        job = await self._reload(job.id)
        if job.card_ts is None:
            await self.slack.tell(
                job.user_id, message, response_url=job.response_url, channel=job.channel_id
            )
            await self.store.mark_card_done(job.id)
        else:
            await self._finish_card(job, Failed(message))
        raise _Stop

    async def _fail_provider(self, job: Job, exc: ProviderError) -> NoReturn:
        if exc.kind == "account_locked" and self.hooks.on_locked is not None:
            await _quietly(self.hooks.on_locked(exc.detail or exc.message), job.id)
        category = getattr(exc, "category", "")
        await self._fail(job.id, exc.kind, category or exc.detail or exc.message)

    async def _fail_unplaceable(self, job: Job, exc: SlackError) -> NoReturn:
        await self.store.mark_failed(job.id, "slack_" + exc.code, exc.code)
        text = undeliverable_text(exc.code, before_start=True)
        await self.slack.tell(job.user_id, text, response_url=job.response_url, channel=None)
        await self.store.mark_card_done(job.id)
        log.info(
            "job could not be placed job=%s channel=%s error=%s", job.id, job.channel_id, exc.code
        )
        raise _Stop

    async def _undeliverable(self, job: Job, exc: SlackError) -> NoReturn:
        await self.store.mark_failed(job.id, "slack_" + exc.code, exc.code)
        self._drop_spool(job.id)
        text = undeliverable_text(exc.code, before_start=False)
        with contextlib.suppress(SlackError):
            await self.slack.tell(job.user_id, text, response_url=job.response_url, channel=None)
        await self.store.mark_card_done(job.id)
        raise _Stop

    async def _time_out(self, job: Job, submission: Submission) -> NoReturn:
        await self.provider.cancel(submission)
        await self._fail_provider(job, ProviderTimeout("fal took too long"))

    def _drop_spool(self, job_id: str) -> None:
        shutil.rmtree(self.config.spool / job_id, ignore_errors=True)


async def _quietly(hook: Awaitable[None], job_id: str) -> None:
    try:
        await hook
    except Exception:
        log.exception("a job hook failed job=%s", job_id)


def _submission(job: Job) -> Submission:
    return Submission(
        job.fal_request_id or "", job.fal_status_url or "", job.fal_result_url or "",
        job.fal_cancel_url or "",
    )  # fmt: skip


def _now(job: Job) -> datetime:
    return datetime.now(job.created_at.tzinfo)


def _final_status(job: Job) -> CardStatus:
    if job.state == JobState.DELIVERED:
        end = job.finished_at or job.created_at
        seconds = max(1, round((end - job.created_at).total_seconds()))
        return Done(seconds, job.amount_micros, job.charge_estimated)
    if job.state == JobState.CANCELLED:
        by = (job.error_message or "").removeprefix("cancelled by ") or job.user_id
        return Cancelled(by)
    return Failed(failure_text(job.error_kind or "internal", job.error_message, job.id))

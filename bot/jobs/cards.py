"""A job's card as it changes: throttled edits, a ticking clock, a workspace-wide edit budget.

Slack allows about 50 `chat.update` calls a minute per workspace, so every card draws from one
shared bucket. Progress edits run in the card's own task: a slow or failing Slack never holds
up the job, and a tick is simply dropped when the bucket is empty. The final state waits for
its turn and is always sent. A card is never edited more often than once per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from bot.domain.failures import ErrorKind, cancel_note, failure_text
from bot.domain.request import OptionError
from bot.providers.catalog import Catalog
from bot.slack.client import SlackError, SlackOut
from bot.slack.views.card import (
    Cancelled,
    CardStatus,
    Done,
    Failed,
    Generating,
    ModelNote,
    Waiting,
    card,
)
from bot.store.records import Job, JobState

log = logging.getLogger(__name__)


class UpdateBudget:
    """A token bucket shared by every card's edits."""

    def __init__(self, per_minute: float, burst: int = 10) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def try_take(self) -> bool:
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    async def take(self) -> None:
        while not self.try_take():  # noqa: ASYNC110 (a refilling bucket has no event to wait on)
            await asyncio.sleep(max(0.05, (1 - self._tokens) / self._rate))


class Card:
    """One job's card; `show` for progress (never waits on Slack), `finish` for the last word."""

    def __init__(
        self,
        slack: SlackOut,
        job: Job,
        budget: UpdateBudget,
        interval: float,
        *,
        started: Callable[[], float | None],
        ahead: Callable[[], int],
        model: ModelNote | None = None,
    ) -> None:
        self._slack = slack
        self.model = model
        self.job = job
        self._budget = budget
        self._interval = interval
        self._started = started
        self._ahead = ahead
        self._current: CardStatus | None = None
        self._shown: CardStatus | None = None
        self._last_edit = 0.0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def set_job(self, job: Job) -> None:
        self.job = job

    async def show(self, status: CardStatus) -> None:
        self._current = status
        if self._task is None and self.job.card_ts is not None:
            self._task = asyncio.create_task(self._follow(), name=f"card-{self.job.id}")
        self._wake.set()

    async def finish(self, status: CardStatus) -> None:
        """The final state: always shown, after the interval, even when the budget is tight."""
        await self.stop()
        self._current = status
        wait = self._interval - (time.monotonic() - self._last_edit)
        if wait > 0:
            await asyncio.sleep(wait)
        await self._budget.take()
        await self._edit(status, raise_errors=True)

    def abandon(self) -> None:
        """Stop following (the job is over or handed on): no further progress edits."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _live(self, status: CardStatus) -> CardStatus:
        """The status as of now: the clock of a running job, the place of a waiting one."""
        started = self._started()
        if isinstance(status, Generating) and started is not None:
            return Generating(int(time.monotonic() - started))
        if isinstance(status, Waiting):
            return Waiting(self._ahead())
        return status

    async def _follow(self) -> None:
        """Keep the card up to date: on each change, and each interval for the clock."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            wait = self._interval - (time.monotonic() - self._last_edit)
            if wait > 0:
                await asyncio.sleep(wait)
            status = self._current
            if status is None:
                continue
            live = self._live(status)
            if live != self._shown and self._budget.try_take():
                await self._edit(live)

    async def _edit(self, status: CardStatus, *, raise_errors: bool = False) -> None:
        if self.job.card_ts is None:
            return
        self._last_edit = time.monotonic()
        try:
            await self._update(status)
        except SlackError as exc:
            log.warning("card update failed job=%s error=%s", self.job.id, exc.code)
            if raise_errors:
                raise
            return
        self._shown = status

    async def _update(self, status: CardStatus) -> None:
        assert self.job.card_ts is not None
        text, blocks = card(self.job, status, model=self.model)
        try:
            await self._slack.update(self.job.channel_id, self.job.card_ts, text, blocks)
        except SlackError as exc:
            if exc.code != "invalid_blocks":
                raise
            # Cards are built within Slack's limits; should Slack still refuse one, the short
            # card (who asked, and how it stands) keeps the person informed.
            log.error("Slack refused a card job=%s; showing the short card", self.job.id)
            text, blocks = card(self.job, status, short=True, model=self.model)
            await self._slack.update(self.job.channel_id, self.job.card_ts, text, blocks)


def final_status(job: Job) -> CardStatus:
    """The last word on a finished job's card."""
    if job.state == JobState.DELIVERED:
        end = job.finished_at or job.created_at
        seconds = max(1, round((end - job.created_at).total_seconds()))
        return Done(seconds, job.amount_micros, job.charge_estimated)
    charged, estimated = job.charged_micros, job.charge_estimated
    if job.state == JobState.CANCELLED:
        by = (job.error_message or "").removeprefix("cancelled by ") or job.user_id
        after_start = job.failure == ErrorKind.CANCELLED_AFTER_START
        note = cancel_note(after_start=after_start, charged_micros=charged, estimated=estimated)
        return Cancelled(by, note)
    return Failed(
        failure_text(
            job.failure, job.error_message, job.id, charged_micros=charged, estimated=estimated
        )
    )


def model_note(catalog: Catalog, job: Job) -> ModelNote:
    """What the card says of the job's model, from the catalog (a model an operator has since
    removed still shows by name, without buttons that would need it)."""
    try:
        profile = catalog.get(job.request.model)
    except OptionError:
        return ModelNote(job.request.model, None)
    offer = None
    if job.request.draft and job.kind == "generate":
        width, height = profile.default_size
        if job.images:
            width, height = job.images[0].width or width, job.images[0].height or height
        offer = catalog.final_offer(job.request, width, height)
    return ModelNote(profile.label, profile.final_quality, offer)

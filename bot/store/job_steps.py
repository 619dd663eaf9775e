"""A job's life in the store: admission (the budget check and the hold, in one transaction), then
each step of held -> submitted -> generated -> delivered (or failed, cancelled) as one
statement that only moves a job from the state it must be in."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from bot.domain.failures import ErrorKind
from bot.store import admission, settling
from bot.store.database import Database
from bot.store.reconciliation import Reconciliation
from bot.store.records import (
    JOB_COLUMNS,
    UNFINISHED,
    Admission,
    Bill,
    Job,
    JobState,
    NewJob,
    ResultImage,
    dump_images,
    job_from_row,
    to_ms,
)

_SELECT_JOB = (
    f"SELECT {JOB_COLUMNS} FROM jobs j LEFT JOIN charges c ON c.job_id = j.id AND c.line = 'job'"
)


class JobSteps(Database):
    @property
    def reconciliation(self) -> Reconciliation:
        """The ledger as reconciliation with fal's records reads and settles it."""
        return Reconciliation(self._reader, self._write, self._now_ms)

    # --- admission -------------------------------------------------------------------------

    async def admit(
        self,
        new: NewJob,
        *,
        month: tuple[datetime, datetime],
        user_budget_micros: int | None,
        team_budget_micros: int | None,
    ) -> Admission:
        """Write the job and hold its estimate, unless that would pass a budget.

        The budgets passed in are the configured defaults; budgets set by admins in the
        database take precedence. Spend counts settled and held charges of the month.
        """
        start, end = to_ms(month[0]), to_ms(month[1])
        now = self._now_ms()
        async with self._write() as db:
            return await admission.admit(
                db, new, start, end, user_budget_micros, team_budget_micros, now
            )

    # --- a job's life ------------------------------------------------------------------------

    async def get_job(self, job_id: str) -> Job | None:
        row = await self._one(f"{_SELECT_JOB} WHERE j.id = ?", (job_id,))
        return job_from_row(row) if row is not None else None

    async def job_by_request(self, request_id: str) -> Job | None:
        """The job that fal's request `request_id` belongs to."""
        row = await self._one(f"{_SELECT_JOB} WHERE j.fal_request_id = ?", (request_id,))
        return job_from_row(row) if row is not None else None

    async def unfinished_jobs(self) -> list[Job]:
        marks = ",".join("?" * len(UNFINISHED))
        rows = await self._all(
            f"{_SELECT_JOB} WHERE j.state IN ({marks}) OR j.card_done = 0 ORDER BY j.created_at",
            UNFINISHED,
        )
        return [job_from_row(row) for row in rows]

    async def jobs(self, *, user_id: str | None = None, limit: int = 50) -> list[Job]:
        """The latest jobs (of one person, or everyone's), newest first."""
        where, args = ("WHERE j.user_id = ?", (user_id,)) if user_id else ("", ())
        rows = await self._all(
            f"{_SELECT_JOB} {where} ORDER BY j.created_at DESC, j.rowid DESC LIMIT ?",
            (*args, limit),
        )
        return [job_from_row(row) for row in rows]

    async def latest_in_thread(
        self, channel_id: str, thread_ts: str, *, delivered_only: bool = True
    ) -> Job | None:
        state = "AND j.state = 'delivered'" if delivered_only else ""
        row = await self._one(
            f"{_SELECT_JOB} WHERE j.channel_id = ? AND j.thread_ts = ? {state} "
            "ORDER BY j.created_at DESC, j.rowid DESC LIMIT 1",
            (channel_id, thread_ts),
        )
        return job_from_row(row) if row is not None else None

    async def card_job(self, channel_id: str, card_ts: str) -> Job | None:
        """The job whose card (or thread status message) is this message."""
        row = await self._one(
            f"{_SELECT_JOB} WHERE j.channel_id = ? AND j.card_ts = ?", (channel_id, card_ts)
        )
        return job_from_row(row) if row is not None else None

    async def set_card(self, job_id: str, card_ts: str, thread_ts: str) -> None:
        await self._update(
            job_id, "card_ts = ?, thread_ts = COALESCE(thread_ts, ?)", (card_ts, thread_ts)
        )

    async def mark_submit_sent(self, job_id: str) -> bool:
        """A submit is about to leave: from now on fal may hold a request for this job.
        False when the job is no longer waiting to be submitted (it was cancelled)."""
        now = self._now_ms()
        return await self._statement(
            "UPDATE jobs SET submit_sent_at = COALESCE(submit_sent_at, ?), updated_at = ?"
            " WHERE id = ? AND state = 'held'",
            (now, now, job_id),
        )

    async def request_taken(self, request_id: str) -> bool:
        """Whether a fal request id already belongs to a job or a ledger line."""
        return bool(await self.reconciliation.known([request_id]))

    async def mark_cancel_requested(self, job_id: str, by: str | None) -> bool:
        """fal was asked to cancel (by a person, or by the deadline when `by` is None)."""
        return await self._statement(
            "UPDATE jobs SET cancel_requested_at = ?, cancel_requested_by = ?, updated_at = ?"
            " WHERE id = ? AND state IN ('held', 'submitted') AND cancel_requested_at IS NULL",
            (self._now_ms(), by, self._now_ms(), job_id),
        )

    async def mark_submitted(
        self, job_id: str, request_id: str, status_url: str, result_url: str, cancel_url: str
    ) -> bool:
        return await self._move(
            job_id,
            (JobState.HELD,),
            JobState.SUBMITTED,
            "fal_request_id = ?, fal_status_url = ?, fal_result_url = ?, fal_cancel_url = ?,"
            " submitted_at = ?",
            (request_id, status_url, result_url, cancel_url, self._now_ms()),
        )

    async def mark_started(self, job_id: str) -> None:
        await self._update(job_id, "started_at = COALESCE(started_at, ?)", (self._now_ms(),))

    async def mark_generated(
        self,
        job_id: str,
        images: list[ResultImage],
        billed_units: Decimal | None,
        cost_micros: int | None,
    ) -> bool:
        """Store the result and settle the charge at fal's bill (the estimate if none came)."""
        now = self._now_ms()
        async with self._write() as db:
            changed = await db.execute(
                "UPDATE jobs SET state = 'generated', images_json = ?, billed_units = ?,"
                " generated_at = ?, updated_at = ? WHERE id = ? AND state = 'submitted'",
                (dump_images(images), _text(billed_units), now, now, job_id),
            )
            if changed != 1:
                return False
            await settling.settle(db, job_id, Bill(cost_micros, billed_units), now)
            return True

    async def mark_card_done(self, job_id: str) -> None:
        await self._update(job_id, "card_done = 1", ())

    async def mark_upload_started(self, job_id: str) -> None:
        await self._update(job_id, "upload_started = 1", ())

    async def mark_upload_completing(self, job_id: str, file_ids: list[str]) -> None:
        """The ids of files about to be shared into the job's thread: a resumed upload asks
        Slack about them, since a share shows in the thread only some time after it."""
        await self._update(
            job_id, "upload_started = 1, slack_files_json = ?", (json.dumps(file_ids),)
        )

    async def mark_delivered(self, job_id: str, file_ids: list[str]) -> bool:
        return await self._move(
            job_id,
            (JobState.GENERATED,),
            JobState.DELIVERED,
            "slack_files_json = ?, finished_at = ?",
            (json.dumps(file_ids), self._now_ms()),
        )

    async def mark_failed(
        self, job_id: str, kind: ErrorKind, message: str, *, bill: Bill | None = None
    ) -> bool:
        """End the job. Its hold is released (fal billed nothing), or settled at `bill`
        (fal's bill, or the estimate when fal ran it but never said how much); a charge
        already settled at fal's bill stays."""
        why = (kind.stored(message), message)
        return await self._end(job_id, JobState.FAILED, UNFINISHED, why, bill)

    async def mark_cancelled(
        self,
        job_id: str,
        by: str,
        *,
        bill: Bill | None = None,
        after_start: bool = False,
        unsent: bool = False,
    ) -> bool:
        """Cancelled: released when fal stopped it before running it, else `after_start`
        and charged `bill`, what fal billed for what it ran. With `unsent`, only if no
        submit has left for it (so fal cannot hold a request the card calls free)."""
        states = (JobState.HELD, JobState.SUBMITTED)
        kind = ErrorKind.CANCELLED_AFTER_START if after_start else ErrorKind.CANCELLED
        why = (kind.stored(), f"cancelled by {by}")
        extra = " AND submit_sent_at IS NULL" if unsent else ""
        return await self._end(job_id, JobState.CANCELLED, states, why, bill, extra)

    async def _end(
        self,
        job_id: str,
        state: JobState,
        allowed: Sequence[JobState],
        why: tuple[str, str],
        bill: Bill | None,
        extra: str = "",
    ) -> bool:
        """`why`: the stored error kind and message."""
        now = self._now_ms()
        async with self._write() as db:
            return await settling.end(db, job_id, state, allowed, why, bill, now, extra)

    async def _move(
        self,
        job_id: str,
        allowed: Sequence[JobState],
        state: JobState,
        assignments: str,
        args: Sequence[Any],
    ) -> bool:
        marks = ",".join("?" * len(allowed))
        return await self._statement(
            f"UPDATE jobs SET state = ?, {assignments}, updated_at = ?"
            f" WHERE id = ? AND state IN ({marks})",
            (state, *args, self._now_ms(), job_id, *allowed),
        )

    async def _update(self, job_id: str, assignments: str, args: Sequence[Any]) -> None:
        await self._statement(
            f"UPDATE jobs SET {assignments}, updated_at = ? WHERE id = ?",
            (*args, self._now_ms(), job_id),
        )

    async def recent_durations(
        self, endpoint_id: str, quality: str, limit: int = 20
    ) -> list[float]:
        """Seconds from fal starting a job to it finishing, for recent jobs like this one."""
        quality_of = self._reader.json_text("request_json", "quality")
        rows = await self._all(
            "SELECT (generated_at - COALESCE(started_at, submitted_at)) / 1000.0 AS seconds"
            f" FROM jobs WHERE endpoint_id = ? AND {quality_of} = ?"
            " AND generated_at IS NOT NULL ORDER BY generated_at DESC LIMIT ?",
            (endpoint_id, quality, limit),
        )
        return [float(row["seconds"]) for row in rows if row["seconds"] is not None]


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)

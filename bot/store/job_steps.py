"""A job's life in the store: admission (the budget check and the hold, in one transaction), then
each step of held -> submitted -> generated -> delivered (or failed, cancelled) as one
statement that only moves a job from the state it must be in, and only while no other replica
holds the job's lease (LeaseLost otherwise); each step is logged with the replica that took it.
Claims, renewals and the limits of jobs at fal are here too (the SQL is in leases)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from bot.domain.failures import ErrorKind
from bot.store import admission, leases, settling
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
from bot.store.sql import Conn

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
        # The replica that admits a job drives it.
        lease = (self.replica, self._lease_end(now))
        async with self._write() as db:
            return await admission.admit(
                db, new, (start, end), user_budget_micros, team_budget_micros, now, lease
            )

    # --- leases ------------------------------------------------------------------------------

    def _lease_end(self, now: int) -> int:
        """A lease is written to end two thirds of a period ahead. Renewed every third, it
        stays held while its replica lives (a renewal may come a third late); once it lapses,
        another replica claims the job when it next looks (at most a third later): within one
        period of a death."""
        return now + int(self.lease_seconds * 1000 * 2 / 3)

    async def claim_jobs(self, *, every: bool = False) -> list[str]:
        """Take the unfinished jobs nobody holds (with `every`: all of them); their ids."""
        now = self._now_ms()
        async with self._write() as db:
            return await leases.claim(db, self.replica, now, self._lease_end(now), every=every)

    async def claim_job(self, job_id: str) -> bool:
        """Take one job unless another replica's lease on it still runs."""
        now = self._now_ms()
        async with self._write() as db:
            return await leases.claim_one(db, job_id, self.replica, now, self._lease_end(now))

    async def renew_leases(self, job_ids: list[str]) -> set[str]:
        """Extend this replica's leases; the ids of the jobs it still holds."""
        async with self._write() as db:
            return await leases.renew(db, self.replica, job_ids, self._lease_end(self._now_ms()))

    async def release_leases(self) -> int:
        async with self._write() as db:
            return await leases.release(db, self.replica)

    async def park(self, job_id: str, seconds: float) -> bool:
        """Let go of the job until fal reports, or `seconds` pass: then anyone follows it."""
        until = self._now_ms() + int(seconds * 1000)
        async with self._write() as db:
            return await leases.park(db, job_id, self.replica, until)

    async def take_slot(self, job_id: str, user_id: str, total: int, per_user: int) -> bool:
        """Count the job at fal if the limits, counted over all replicas, allow it."""
        async with self._write() as db:
            return await leases.take_slot(
                db, job_id, user_id, (total, per_user), self.replica, self._now_ms()
            )

    async def transitions(self, job_id: str) -> list[tuple[str, str]]:
        """The steps taken on a job, oldest first, and the replica that took each."""
        rows = await self._all(
            "SELECT step, replica FROM job_transitions WHERE job_id = ? ORDER BY at",
            (job_id,),
        )
        return [(row["step"], row["replica"]) for row in rows]

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
            job_id, "card", "card_ts = ?, thread_ts = COALESCE(thread_ts, ?)", (card_ts, thread_ts)
        )

    async def mark_submit_sent(self, job_id: str) -> bool:
        """A submit is about to leave: from now on fal may hold a request for this job.
        False when the job is no longer waiting to be submitted (it was cancelled)."""
        return await self._step(
            job_id, "submit_sent", "submit_sent_at = COALESCE(submit_sent_at, ?)",
            (self._now_ms(),), " AND state = 'held'",
        )  # fmt: skip

    async def request_taken(self, request_id: str) -> bool:
        """Whether a fal request id already belongs to a job or a ledger line."""
        return bool(await self.reconciliation.known([request_id]))

    async def mark_cancel_requested(self, job_id: str, by: str | None) -> bool:
        """fal was asked to cancel (by a person, or by the deadline when `by` is None). A
        person's Cancel may reach any replica: the one driving the job reads it."""
        return await self._step(
            job_id, "cancel_requested", "cancel_requested_at = ?, cancel_requested_by = ?",
            (self._now_ms(), by),
            " AND state IN ('held', 'submitted') AND cancel_requested_at IS NULL", anyone=True,
        )  # fmt: skip

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
        await self._update(
            job_id, "started", "started_at = COALESCE(started_at, ?)", (self._now_ms(),)
        )

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
            if not await self._change(
                db, job_id, "generated",
                "state = 'generated', images_json = ?, billed_units = ?, generated_at = ?",
                (dump_images(images), _text(billed_units), now), " AND state = 'submitted'",
            ):  # fmt: skip
                return False
            await settling.settle(db, job_id, Bill(cost_micros, billed_units), now)
            return True

    async def mark_card_done(self, job_id: str) -> None:
        await self._update(job_id, "card_done", "card_done = 1", ())

    async def mark_upload_started(self, job_id: str) -> None:
        await self._update(job_id, "upload_started", "upload_started = 1", ())

    async def mark_upload_completing(self, job_id: str, file_ids: list[str]) -> None:
        """The ids of files about to be shared into the job's thread: a resumed upload asks
        Slack about them, since a share shows in the thread only some time after it."""
        await self._update(
            job_id, "upload_completing", "upload_started = 1, slack_files_json = ?",
            (json.dumps(file_ids),),
        )  # fmt: skip

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
        return await self._end(job_id, JobState.FAILED, UNFINISHED, why, bill, anyone=False)

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
        submit has left for it (so fal cannot hold a request the card calls free): a
        person's Cancel, which may reach any replica, and the submit decide in the store."""
        states = (JobState.HELD, JobState.SUBMITTED)
        kind = ErrorKind.CANCELLED_AFTER_START if after_start else ErrorKind.CANCELLED
        why = (kind.stored(), f"cancelled by {by}")
        extra = " AND submit_sent_at IS NULL" if unsent else ""
        return await self._end(job_id, JobState.CANCELLED, states, why, bill, unsent, extra)

    async def _end(
        self,
        job_id: str,
        state: JobState,
        allowed: Sequence[JobState],
        why: tuple[str, str],
        bill: Bill | None,
        anyone: bool,
        extra: str = "",
    ) -> bool:
        """End the job (`why`: the stored error kind and message) and settle its charge.
        False when the job is not in an `allowed` state (or fails the `extra` condition)."""
        now = self._now_ms()
        marks = ",".join("?" * len(allowed))
        units = None if bill is None or bill.units is None else str(bill.units)
        async with self._write() as db:
            if not await self._change(
                db, job_id, state,
                "state = ?, error_kind = ?, error_message = ?, finished_at = ?,"
                " billed_units = COALESCE(?, billed_units)",
                (state, *why, now, units), f" AND state IN ({marks}){extra}", allowed,
                anyone=anyone,
            ):  # fmt: skip
                return False
            await settling.settle(db, job_id, bill, now)
            return True

    async def _move(
        self,
        job_id: str,
        allowed: Sequence[JobState],
        state: JobState,
        assignments: str,
        args: Sequence[Any],
    ) -> bool:
        marks = ",".join("?" * len(allowed))
        return await self._step(
            job_id, state, f"state = ?, {assignments}", (state, *args),
            f" AND state IN ({marks})", allowed,
        )  # fmt: skip

    async def _update(self, job_id: str, step: str, assignments: str, args: Sequence[Any]) -> None:
        await self._step(job_id, step, assignments, args)

    async def _step(self, *change: Any, anyone: bool = False) -> bool:
        """One step (as `_change` takes it) in a transaction of its own."""
        async with self._write() as db:
            return await self._change(db, *change, anyone=anyone)

    async def _change(
        self,
        db: Conn,
        job_id: str,
        step: str,
        assignments: str,
        args: Sequence[Any],
        where: str = "",
        where_args: Sequence[Any] = (),
        *,
        anyone: bool = False,
    ) -> bool:
        """One step of a job, logged with this replica; unless `anyone` may take it, only while
        no other replica holds the job (LeaseLost when one does). True when it changed."""
        now = self._now_ms()
        lease, lease_args = ("", ()) if anyone else leases.held_by(self.replica)
        changed = await db.execute(
            f"UPDATE jobs SET {assignments}, updated_at = ? WHERE id = ?{where}{lease}",
            (*args, now, job_id, *where_args, *lease_args),
        )
        if changed != 1:
            if not anyone:
                await leases.check_owner(db, job_id, self.replica)
            return False
        await leases.log_step(db, job_id, step, self.replica, now)
        return True

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

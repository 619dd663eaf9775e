"""The bot's memory: jobs, charges, budgets and seen events in one SQLite file.

One writer connection does every write inside `BEGIN IMMEDIATE`, behind an asyncio lock, so a
budget check and the hold it allows can never interleave with another. Reads use a second
connection; WAL lets them run while a write is open. All SQL of the bot lives in this package.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiosqlite

from bot.domain.clock import Clock, system_clock
from bot.domain.failures import ErrorKind
from bot.domain.periods import Period
from bot.store import admission, ledger, settling
from bot.store.ledger import RecentCharge, SpendRow, Usage
from bot.store.reconciliation import Reconciliation
from bot.store.records import (
    JOB_COLUMNS,
    UNFINISHED,
    Admission,
    Admitted,
    Bill,
    Duplicate,
    ImageInput,
    Job,
    JobState,
    NewJob,
    Refused,
    ResultImage,
    dump_images,
    from_ms,
    job_from_row,
    to_ms,
)
from bot.store.report import Report
from bot.store.schema import connect, migrate
from bot.store.sql import read_all

__all__ = [
    "Admission",
    "Admitted",
    "Bill",
    "Duplicate",
    "ImageInput",
    "Job",
    "JobState",
    "NewJob",
    "Refused",
    "ResultImage",
    "Store",
    "StoreError",
]

_SELECT_JOB = (
    f"SELECT {JOB_COLUMNS} FROM jobs j LEFT JOIN charges c ON c.job_id = j.id AND c.line = 'job'"
)


class StoreError(Exception):
    """The database cannot be used: not SQLite, not imagebot's, unreadable. One line."""


class Store:
    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection, clock: Clock):
        self._writer = writer
        self._reader = reader
        self._lock = asyncio.Lock()
        self.clock = clock

    @classmethod
    async def open(
        cls, path: Path | str, *, clock: Clock = system_clock, create: bool = True
    ) -> Store:
        """Open (and migrate) the database; with `create=False` only an existing imagebot
        database is opened, and an empty file is left as it is. Raises StoreError."""
        path = Path(path)
        try:
            if not create:
                _check_existing(path)
            elif str(path) != ":memory:":
                path.parent.mkdir(parents=True, exist_ok=True)
            writer = await connect(path)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(_problem(path, exc)) from None
        try:
            await migrate(writer)
            reader = await connect(path)
        except BaseException as exc:
            await writer.close()
            if isinstance(exc, OSError | sqlite3.Error | RuntimeError):
                raise StoreError(_problem(path, exc)) from None
            raise
        return cls(writer, reader, clock)

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                await self._writer.rollback()
                raise
            await self._writer.commit()

    async def _one(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self._all(sql, args)
        return rows[0] if rows else None

    async def _all(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return await read_all(self._reader, sql, args)

    def _now_ms(self) -> int:
        return to_ms(self.clock())

    @property
    def reconciliation(self) -> Reconciliation:
        """The ledger as reconciliation with fal's records reads and settles it."""
        return Reconciliation(self._reader, self._write, self._now_ms)

    async def ping(self) -> bool:
        row = await self._one("SELECT 1")
        return row is not None

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
            cursor = await db.execute(
                "UPDATE jobs SET state = 'generated', images_json = ?, billed_units = ?,"
                " generated_at = ?, updated_at = ? WHERE id = ? AND state = 'submitted'",
                (dump_images(images), _text(billed_units), now, now, job_id),
            )
            if cursor.rowcount != 1:
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

    async def _statement(self, sql: str, args: Sequence[Any]) -> bool:
        """One write statement on its own: SQLite makes it atomic without BEGIN/COMMIT, which
        spares two round trips to the database thread. True when it changed one row."""
        async with self._lock:
            cursor = await self._writer.execute(sql, args)
            return cursor.rowcount == 1

    async def recent_durations(
        self, endpoint_id: str, quality: str, limit: int = 20
    ) -> list[float]:
        """Seconds from fal starting a job to it finishing, for recent jobs like this one."""
        rows = await self._all(
            "SELECT (generated_at - COALESCE(started_at, submitted_at)) / 1000.0 AS seconds"
            " FROM jobs WHERE endpoint_id = ? AND json_extract(request_json, '$.quality') = ?"
            " AND generated_at IS NOT NULL ORDER BY generated_at DESC LIMIT ?",
            (endpoint_id, quality, limit),
        )
        return [float(row["seconds"]) for row in rows if row["seconds"] is not None]

    # --- budgets -----------------------------------------------------------------------------

    async def set_budget(self, scope: str, subject: str, micros: int | None, *, by: str) -> None:
        """Set a monthly budget; `micros=None` means no limit at all."""
        async with self._write() as db:
            await db.execute(
                "INSERT INTO budgets (scope, subject, amount_micros, updated_by, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, subject) DO UPDATE SET"
                " amount_micros = excluded.amount_micros, updated_by = excluded.updated_by,"
                " updated_at = excluded.updated_at",
                (scope, subject, micros, by, self._now_ms()),
            )

    async def clear_budget(self, scope: str, subject: str) -> None:
        """Forget a figure set by an admin, so the configured default applies again."""
        async with self._write() as db:
            await db.execute(
                "DELETE FROM budgets WHERE scope = ? AND subject = ?", (scope, subject)
            )

    async def budget_for(self, scope: str, subject: str, fallback: int | None) -> int | None:
        """The budget that applies (as admission sees it)."""
        return await admission.budget(self._reader, scope, subject, fallback)

    # --- spend (the SQL is in bot.store.ledger) --------------------------------------------

    async def spend_rows(
        self, period: Period, by: ledger.Grouping, zone: ZoneInfo
    ) -> list[SpendRow]:
        return await ledger.spend_rows(self._reader, *_ms(period), by, zone)

    async def report(self, period: Period, by: ledger.Grouping, zone: ZoneInfo) -> Report:
        """Settled spend of the period grouped `by`, and what is held; without names."""
        rows = await self.spend_rows(period, by, zone)
        return Report(period, by, rows, {}, await self.held_micros(period))

    async def held_micros(self, period: Period, user_id: str | None = None) -> int:
        return await ledger.held_micros(self._reader, *_ms(period), user_id)

    async def demo_micros(self, period: Period, user_id: str | None = None) -> int:
        return await ledger.demo_micros(self._reader, *_ms(period), user_id)

    async def usage(self, user_id: str, period: Period) -> Usage:
        return await ledger.usage(self._reader, user_id, *_ms(period))

    async def daily_spend(self, period: Period, zone: ZoneInfo) -> list[tuple[date, int]]:
        return await ledger.daily_spend(self._reader, *_ms(period), zone)

    async def recent_charges(self, user_id: str, limit: int = 5) -> list[RecentCharge]:
        return await ledger.recent_charges(self._reader, user_id, limit)

    async def team_spend_micros(self, period: Period) -> int:
        """Settled and held spend of everyone in the period, as the team budget counts it."""
        row = await self._one(
            "SELECT COALESCE(SUM(amount_micros), 0) FROM charges"
            " WHERE created_at >= ? AND created_at < ?",
            _ms(period),
        )
        return int(row[0]) if row is not None else 0

    # --- events seen and notices given -----------------------------------------------------

    async def claim_notice(self, key: str) -> bool:
        """True the first time a notice is due (so it is sent once); False ever after."""
        async with self._write() as db:
            cursor = await db.execute(
                "INSERT OR IGNORE INTO notices (key, sent_at) VALUES (?, ?)", (key, self._now_ms())
            )
            return cursor.rowcount == 1

    async def claim(self, key: str, ttl_seconds: float) -> bool:
        """True the first time a key is seen (until it expires); False for a repeat."""
        now = self._now_ms()
        async with self._write() as db:
            await db.execute(
                "DELETE FROM seen_events WHERE key = ? AND expires_at <= ?", (key, now)
            )
            cursor = await db.execute(
                "INSERT OR IGNORE INTO seen_events (key, expires_at) VALUES (?, ?)",
                (key, now + int(ttl_seconds * 1000)),
            )
            return cursor.rowcount == 1

    async def blank_prompts(self, before: datetime) -> int:
        """Retention: forget the prompts of finished jobs created before `before`; the amounts,
        sizes and dates stay for reports."""
        placeholder = "(removed)"
        async with self._write() as db:
            cursor = await db.execute(
                "UPDATE jobs SET prompt = '', request_json = json_set(request_json, '$.prompt', ?)"
                " WHERE created_at < ? AND prompt != '' AND state IN ('delivered', 'failed',"
                " 'cancelled')",
                (placeholder, to_ms(before)),
            )
            return cursor.rowcount

    # --- people's names ----------------------------------------------------------------------

    async def remember_name(self, user_id: str, name: str) -> None:
        async with self._write() as db:
            await db.execute(
                "INSERT INTO people (user_id, name, seen_at) VALUES (?, ?, ?) ON CONFLICT"
                " (user_id) DO UPDATE SET name = excluded.name, seen_at = excluded.seen_at",
                (user_id, name, self._now_ms()),
            )

    async def name_seen_at(self, user_id: str) -> datetime | None:
        row = await self._one("SELECT seen_at FROM people WHERE user_id = ?", (user_id,))
        return None if row is None else from_ms(row["seen_at"])

    async def names(self) -> dict[str, str]:
        """Every name the bot has learnt, by Slack user id."""
        rows = await self._all("SELECT user_id, name FROM people")
        return {row["user_id"]: row["name"] for row in rows}

    async def seen(self, key: str) -> bool:
        """Whether a key was claimed and has not expired yet."""
        row = await self._one(
            "SELECT 1 FROM seen_events WHERE key = ? AND expires_at > ?", (key, self._now_ms())
        )
        return row is not None

    async def purge_expired(self) -> int:
        async with self._write() as db:
            cursor = await db.execute(
                "DELETE FROM seen_events WHERE expires_at <= ?", (self._now_ms(),)
            )
            return cursor.rowcount


def _check_existing(path: Path) -> None:
    """Refuse, without writing to it, a file that holds no imagebot database."""
    if path.stat().st_size == 0:
        raise StoreError(f"{path} is not an imagebot database (the file is empty)")
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        (version,) = db.execute("PRAGMA user_version").fetchone()
    if version == 0:
        raise StoreError(f"{path} is not an imagebot database (it has no imagebot tables)")


def _problem(path: Path, exc: BaseException) -> str:
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
        return f"{path} is not an SQLite database"
    if isinstance(exc, RuntimeError):
        return f"{path}: {exc}"
    if not os.access(path.parent, os.W_OK):
        # A bind-mounted folder owned by someone else, most often (see README, Docker).
        return (
            f"cannot open the database {path}: {path.parent} is not writable by uid {os.getuid()}"
        )
    return f"cannot open the database {path}: {exc}"


def _ms(period: Period) -> tuple[int, int]:
    return to_ms(period.start), to_ms(period.end)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)

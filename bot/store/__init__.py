"""The bot's memory: jobs, charges, budgets, seen events and notices, in one SQLite file or
a PostgreSQL database that replicas share.

All SQL of the bot lives in this package: the file and its one writer (database), a job's
steps (job_steps), admission, settling, spend (ledger), reconciliation, looking back (history:
what was sent to fal, a person's requests and results), and here budgets, events seen, notices
given and people's names. Store is the whole of it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.periods import Period
from bot.store import admission, choices, copying, history, ledger
from bot.store.choices import ModelSettings, StoredStyle
from bot.store.copying import CopyRefused
from bot.store.database import StoreError
from bot.store.job_steps import JobSteps
from bot.store.leases import LeaseLost
from bot.store.ledger import RecentCharge, SpendRow, Usage
from bot.store.records import (
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
    from_ms,
    to_ms,
)
from bot.store.report import Report

__all__ = [
    "Admission",
    "Admitted",
    "Bill",
    "CopyRefused",
    "Duplicate",
    "ImageInput",
    "Job",
    "JobState",
    "LeaseLost",
    "ModelSettings",
    "NewJob",
    "Refused",
    "ResultImage",
    "Store",
    "StoreError",
    "StoredStyle",
]


class Store(JobSteps):
    """Jobs and their steps (JobSteps), and what the rest of the bot keeps: budgets, spend,
    events seen, notices given, people's names."""

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

    # --- model choices and styles (the SQL is in bot.store.choices) ---------------------------

    async def model_settings(self) -> ModelSettings:
        return await choices.model_settings(self._reader)

    async def set_model(self, scope: str, subject: str, model: str, *, by: str) -> None:
        """scope `workspace` (subject ''), `channel` (a channel id) or `deny` (a model)."""
        async with self._write() as db:
            await choices.set_model(db, scope, subject, model, by, self._now_ms())

    async def clear_model(self, scope: str, subject: str) -> None:
        async with self._write() as db:
            await choices.clear_model(db, scope, subject)

    async def save_style(self, style: StoredStyle) -> None:
        async with self._write() as db:
            await choices.save_style(db, style, self._now_ms())

    async def delete_style(self, name: str) -> bool:
        async with self._write() as db:
            return await choices.delete_style(db, name)

    async def styles(self, name: str | None = None) -> list[StoredStyle]:
        return await choices.styles(self._reader, name)

    # --- looking back (the SQL is in bot.store.history) -------------------------------------

    async def record_arguments(self, job_id: str, arguments: dict[str, Any]) -> None:
        """Keep what is about to be sent to fal for the job (the last submit's, if several)."""
        kept = history.kept_arguments(arguments)
        async with self._write() as db:
            await history.record_arguments(db, job_id, kept)

    async def sent_arguments(self, job_id: str) -> dict[str, Any] | None:
        return await history.sent_arguments(self._reader, job_id)

    async def requests_of(self, user_id: str, words: list[str], limit: int = 20) -> list[Job]:
        """A person's latest requests, newest first; with `words`, those whose prompt has each."""
        return await history.requests_of(self._reader, user_id, words, limit)

    async def results_of(self, user_id: str, limit: int = 6) -> list[Job]:
        """A person's latest results whose images are in Slack, newest first."""
        return await history.results_of(self._reader, user_id, limit)

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
            changed = await db.execute(
                "INSERT OR IGNORE INTO notices (key, sent_at) VALUES (?, ?)", (key, self._now_ms())
            )
            return changed == 1

    async def claim(self, key: str, ttl_seconds: float) -> bool:
        """True the first time a key is seen (until it expires); False for a repeat."""
        now = self._now_ms()
        async with self._write() as db:
            await db.execute(
                "DELETE FROM seen_events WHERE key = ? AND expires_at <= ?", (key, now)
            )
            changed = await db.execute(
                "INSERT OR IGNORE INTO seen_events (key, expires_at) VALUES (?, ?)",
                (key, now + int(ttl_seconds * 1000)),
            )
            return changed == 1

    async def blank_prompts(self, before: datetime) -> int:
        """Retention: forget the prompts of finished jobs created before `before` (and what
        was sent to fal, which holds the prompt too); the amounts, sizes and dates stay for
        reports."""
        placeholder = "(removed)"
        async with self._write() as db:
            return await db.execute(
                f"UPDATE jobs SET prompt = '', request_json = {db.json_with('request_json')},"
                " fal_arguments_json = NULL WHERE created_at < ? AND prompt != ''"
                " AND state IN ('delivered', 'failed', 'cancelled')",
                ("prompt", placeholder, to_ms(before)),
            )

    # --- moving to another database ------------------------------------------------------

    async def copy_into(self, destination: Store) -> dict[str, int]:
        """Every row of this database into `destination` (migrated and empty); rows per table.
        Raises CopyRefused when the destination holds data already."""
        return await copying.copy_all(self._reader, destination._reader, destination._write)

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
            return await db.execute(
                "DELETE FROM seen_events WHERE expires_at <= ?", (self._now_ms(),)
            )


def _ms(period: Period) -> tuple[int, int]:
    return to_ms(period.start), to_ms(period.end)

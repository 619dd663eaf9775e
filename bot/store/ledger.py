"""The SQL of spend reports: settled spend by person, day, channel, model or quality.

Module functions over the Store's reader (a Conn);
money is whole micro-dollars. Local days are cut in Python from the zone's own midnights and the
charges are bucketed into them in SQL with a range join: a 23- or 25-hour DST day lands on the
right date, and no Python runs per charge.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

from bot.domain.demo_pricing import DEMO_ENDPOINT_PREFIX
from bot.domain.periods import date_range
from bot.store.records import JobState, from_ms, to_ms
from bot.store.sql import Conn, read_all

Grouping = Literal["user", "day", "channel", "model", "style", "quality"]
GROUPINGS: tuple[Grouping, ...] = get_args(Grouping)
ChargeStatus = Literal["held", "settled", "released"]


_COLUMNS: dict[str, str] = {
    "user": "c.user_id",
    "channel": "c.channel_id",
    # A line fal billed that no job claims has no catalog model: its endpoint stands in.
    "model": "COALESCE(NULLIF(c.catalog_model, ''), c.model)",
    "style": "c.style",
    "quality": "c.quality",
}
_SUMS = (
    "COUNT(*) AS jobs, SUM(c.images) AS images, SUM(c.amount_micros) AS spend,"
    " SUM(CASE WHEN c.estimated = 0 THEN c.amount_micros ELSE 0 END) AS billed,"
    " SUM(CASE WHEN c.estimated = 0 THEN 0 ELSE c.amount_micros END) AS estimated"
)
# One JSON parameter carries every [day, start, end] of the range, so a long range never meets
# SQLite's limit on bound variables. The days are materialized as plain columns (json_extract
# per charge would cost 5x the query) and CROSS JOIN keeps them outside: each day is one range
# scan of charges_month rather than a pass over the days for every charge. The days are already
# clipped to the range; repeating the range as constants would let the planner scan the whole
# range once per day instead.
_DAYS = {
    "sqlite": "WITH d (day, lo, hi) AS MATERIALIZED (SELECT json_extract(value, '$[0]'),"
    " json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(?)) ",
    "postgresql": "WITH d (day, lo, hi) AS MATERIALIZED (SELECT value ->> 0,"
    " (value ->> 1)::bigint, (value ->> 2)::bigint FROM json_array_elements(?::json) value) ",
}
# PostgreSQL has no CROSS JOIN … ON; its planner keeps the day list outside on its own.
_DAYS_JOIN = {
    "sqlite": "d CROSS JOIN charges c ON c.created_at >= d.lo AND c.created_at < d.hi",
    "postgresql": "d JOIN charges c ON c.created_at >= d.lo AND c.created_at < d.hi",
}
_IN_RANGE = "c.created_at >= ? AND c.created_at < ?"


@dataclass(frozen=True)
class SpendRow:
    """Settled spend of one person in one group (the person again, for by=user)."""

    user_id: str
    group: str
    jobs: int
    images: int
    spend_micros: int
    billed_micros: int
    estimated_micros: int


@dataclass(frozen=True)
class Usage:
    """One person's period: what settled, what running jobs hold, and the settled jobs."""

    spent_micros: int
    held_micros: int
    jobs: int
    images: int


@dataclass(frozen=True)
class RecentCharge:
    job_id: str
    created_at: datetime
    prompt: str
    state: JobState
    status: ChargeStatus
    amount_micros: int
    estimated: bool
    images: int


async def spend_rows(
    db: Conn, start_ms: int, end_ms: int, by: Grouping, zone: ZoneInfo
) -> list[SpendRow]:
    """Settled charges created in [start_ms, end_ms), one row per (group, person).

    Sorted by spend, largest first, then by group and person so equal spends keep one order.
    """
    days, source, group, where = "", "charges c", _COLUMNS.get(by, ""), _IN_RANGE
    args: tuple[Any, ...] = (start_ms, end_ms)
    if by == "day":
        days, source, group, where = _DAYS[db.dialect], _DAYS_JOIN[db.dialect], "d.day", "TRUE"
        args = (_dump_days(_day_bounds(start_ms, end_ms, zone)),)
    elif not group:
        raise ValueError(f"cannot group spend by {by!r}; use one of {', '.join(GROUPINGS)}")
    rows = await read_all(
        db,
        f"{days}SELECT c.user_id AS user_id, {group} AS grp, {_SUMS} FROM {source}"
        f" WHERE c.status = 'settled' AND {where} GROUP BY grp, c.user_id"
        " ORDER BY spend DESC, grp, c.user_id",
        args,
    )
    return [
        SpendRow(
            user_id=row["user_id"],
            group=row["grp"],
            jobs=row["jobs"],
            images=row["images"],
            spend_micros=row["spend"],
            billed_micros=row["billed"],
            estimated_micros=row["estimated"],
        )
        for row in rows
    ]


async def held_micros(db: Conn, start_ms: int, end_ms: int, user_id: str | None = None) -> int:
    """Money reserved right now by running jobs created in the range (everyone's, or one's)."""
    return await _amount(db, start_ms, end_ms, user_id, "status = 'held'")


async def demo_micros(db: Conn, start_ms: int, end_ms: int, user_id: str | None = None) -> int:
    """Settled and held money of the range that the mock provider billed (pretend money)."""
    demo = (DEMO_ENDPOINT_PREFIX + "%",)
    return await _amount(db, start_ms, end_ms, user_id, "model LIKE ?", demo)


async def _amount(
    db: Conn,
    start_ms: int,
    end_ms: int,
    user_id: str | None,
    where: str,
    args: tuple[str, ...] = (),
) -> int:
    """The sum of the range's charges that match `where` (everyone's, or one person's)."""
    who, person = ("user_id = ? AND ", (user_id,)) if user_id is not None else ("", ())
    rows = await read_all(
        db,
        "SELECT COALESCE(SUM(amount_micros), 0) FROM charges"
        f" WHERE {who}{where} AND created_at >= ? AND created_at < ?",
        (*person, *args, start_ms, end_ms),
    )
    return int(rows[0][0])


async def usage(db: Conn, user_id: str, start_ms: int, end_ms: int) -> Usage:
    """One person's spend in the range; jobs and images count settled jobs only."""
    rows = await read_all(
        db,
        "SELECT"
        " COALESCE(SUM(CASE WHEN status = 'settled' THEN amount_micros END), 0) AS spent,"
        " COALESCE(SUM(CASE WHEN status = 'held' THEN amount_micros END), 0) AS held,"
        " COALESCE(SUM(CASE WHEN status = 'settled' THEN 1 ELSE 0 END), 0) AS jobs,"
        " COALESCE(SUM(CASE WHEN status = 'settled' THEN images END), 0) AS images"
        " FROM charges WHERE user_id = ? AND created_at >= ? AND created_at < ?",
        (user_id, start_ms, end_ms),
    )
    row = rows[0]
    return Usage(row["spent"], row["held"], row["jobs"], row["images"])


async def daily_spend(
    db: Conn, start_ms: int, end_ms: int, zone: ZoneInfo
) -> list[tuple[date, int]]:
    """Settled spend per local day of the range, every day present (zero if nothing settled)."""
    days = _day_bounds(start_ms, end_ms, zone)
    rows = await read_all(
        db,
        f"{_DAYS[db.dialect]}SELECT d.day AS day, SUM(c.amount_micros) AS spend"
        f" FROM {_DAYS_JOIN[db.dialect]}"
        " WHERE c.status = 'settled' GROUP BY d.day",
        (_dump_days(days),),
    )
    spent = {row["day"]: int(row["spend"]) for row in rows}
    return [(day, spent.get(day.isoformat(), 0)) for day, _, _ in days]


async def recent_charges(db: Conn, user_id: str, limit: int = 5) -> list[RecentCharge]:
    """One person's latest charges with their job's prompt and state, newest first."""
    rows = await read_all(
        db,
        "SELECT c.job_id, c.created_at, j.prompt, j.state, c.status, c.amount_micros,"
        " c.estimated, c.images FROM charges c JOIN jobs j ON j.id = c.job_id"
        " WHERE c.user_id = ? ORDER BY c.created_at DESC, c.rowid DESC LIMIT ?",
        (user_id, limit),
    )
    return [
        RecentCharge(
            job_id=row["job_id"],
            created_at=from_ms(row["created_at"]),
            prompt=row["prompt"],
            state=JobState(row["state"]),
            status=_status(row["status"]),
            amount_micros=row["amount_micros"],
            estimated=bool(row["estimated"]),
            images=row["images"],
        )
        for row in rows
    ]


def _day_bounds(start_ms: int, end_ms: int, zone: ZoneInfo) -> list[tuple[date, int, int]]:
    """The local days the range touches, each clipped to the range, as [start, end) in ms."""
    if end_ms <= start_ms:
        return []
    day = from_ms(start_ms).astimezone(zone).date()
    last = from_ms(end_ms - 1).astimezone(zone).date()
    bounds = []
    while day <= last:
        local = date_range(day, day, zone)
        bounds.append((day, max(start_ms, to_ms(local.start)), min(end_ms, to_ms(local.end))))
        day += timedelta(days=1)
    return bounds


def _dump_days(days: Sequence[tuple[date, int, int]]) -> str:
    return json.dumps([[day.isoformat(), start, end] for day, start, end in days])


def _status(value: str) -> ChargeStatus:
    match value:
        case "held" | "settled" | "released":
            return value
    raise ValueError(f"unknown charge status {value!r}")

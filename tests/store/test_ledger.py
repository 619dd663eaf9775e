"""The ledger's SQL on a real store (SQLite and PostgreSQL): what counts as spend, local days, holds, usage."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from itertools import count
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from bot.domain.periods import month_of
from bot.store import JobState, Store
from bot.store.ledger import (
    SpendRow,
    Usage,
    daily_spend,
    demo_micros,
    held_micros,
    recent_charges,
    spend_rows,
    usage,
)
from bot.store.records import to_ms
from bot.store.schema import connect
from bot.store.sql import Conn, to_postgres

NEW_YORK = ZoneInfo("America/New_York")
NOVEMBER = month_of(datetime(2026, 11, 15, 12, tzinfo=UTC), NEW_YORK)
START, END = to_ms(NOVEMBER.start), to_ms(NOVEMBER.end)
MID_NOVEMBER = datetime(2026, 11, 10, 12, tzinfo=NEW_YORK)
_STATES = {"settled": "delivered", "held": "submitted", "released": "failed"}
_numbers = count()


@pytest.fixture
async def path(target: Path | str) -> AsyncIterator[Path | str]:
    """The database (an SQLite file or a PostgreSQL URL), migrated."""
    store = await Store.open(target)
    yield target
    await store.close()


@pytest.fixture
async def db(path: Path | str) -> AsyncIterator[Conn]:
    if isinstance(path, str):
        connection = Conn(await psycopg.AsyncConnection.connect(path, autocommit=True))
    else:
        connection = Conn(await connect(path))
    yield connection
    await connection.close()


def _write(path: Path | str, statements: list[tuple[str, tuple[object, ...]]]) -> None:
    if isinstance(path, str):
        with psycopg.connect(path) as pg:
            for sql, args in statements:
                pg.execute(to_postgres(sql).encode(), args)
        return
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        for sql, args in statements:
            conn.execute(sql, args)


def add(
    path: Path | str,
    user: str,
    amount: int,
    *,
    at: datetime = MID_NOVEMBER,
    status: str = "settled",
    estimated: bool = False,
    channel: str = "C1",
    model: str = "openai/gpt-image-2",
    quality: str = "medium",
    images: int = 1,
    prompt: str = "a cat",
) -> str:
    """A job and its charge written straight into the file, as the store would have left them."""
    job_id, created = f"j{next(_numbers):06d}", to_ms(at)
    _write(path, [
        (
            "INSERT INTO jobs (id, user_id, channel_id, kind, origin, request_json, prompt,"
            " endpoint_id, state, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (job_id, user, channel, "generate", "command", "{}", prompt, model,
             _STATES[status], created, created),
        ),
        (
            "INSERT INTO charges (job_id, user_id, channel_id, model, quality, images, status,"
            " estimate_micros, amount_micros, estimated, created_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (job_id, user, channel, model, quality, images, status, amount, amount,
             int(estimated), created),
        ),
    ])  # fmt: skip
    return job_id


async def test_spend_by_user_counts_settled_charges_only(path: Path | str, db: Conn) -> None:
    for _ in range(3):
        add(path, "UA", 42_100, images=2)
    for _ in range(2):
        add(path, "UB", 42_100)
    add(path, "UA", 60_000, status="held")
    add(path, "UB", 0, status="released")
    rows = await spend_rows(db, START, END, "user", NEW_YORK)
    assert rows == [
        SpendRow("UA", "UA", jobs=3, images=6, spend_micros=126_300, billed_micros=126_300,
                 estimated_micros=0),
        SpendRow("UB", "UB", jobs=2, images=2, spend_micros=84_200, billed_micros=84_200,
                 estimated_micros=0),
    ]  # fmt: skip


async def test_estimated_and_billed_parts_add_up_to_the_spend(path: Path | str, db: Conn) -> None:
    add(path, "UA", 42_100)
    add(path, "UA", 60_000, estimated=True)
    add(path, "UA", 10_000, estimated=True)
    [row] = await spend_rows(db, START, END, "user", NEW_YORK)
    assert (row.spend_micros, row.billed_micros, row.estimated_micros) == (112_100, 42_100, 70_000)


async def test_by_day_uses_the_local_date_at_the_month_edges(path: Path | str, db: Conn) -> None:
    add(path, "UA", 1_000, at=datetime(2026, 11, 30, 23, 59, tzinfo=NEW_YORK))
    add(path, "UA", 2_000, at=datetime(2026, 12, 1, 0, 1, tzinfo=NEW_YORK))
    add(path, "UA", 4_000, at=datetime(2026, 11, 1, 0, 0, tzinfo=NEW_YORK))
    add(path, "UA", 8_000, at=datetime(2026, 10, 31, 23, 59, tzinfo=NEW_YORK))
    rows = await spend_rows(db, START, END, "day", NEW_YORK)
    assert [(row.group, row.spend_micros) for row in rows] == [
        ("2026-11-01", 4_000),
        ("2026-11-30", 1_000),
    ]
    december = month_of(datetime(2026, 12, 15, tzinfo=UTC), NEW_YORK)
    rows = await spend_rows(db, to_ms(december.start), to_ms(december.end), "day", NEW_YORK)
    assert [(row.group, row.spend_micros) for row in rows] == [("2026-12-01", 2_000)]


async def test_by_day_keeps_a_25_hour_dst_day_together(path: Path | str, db: Conn) -> None:
    # New York leaves DST at 02:00 on 1 November 2026: that local day lasts 25 hours.
    add(path, "UA", 1_000, at=datetime(2026, 11, 1, 0, 30, tzinfo=NEW_YORK))
    add(path, "UA", 2_000, at=datetime(2026, 11, 1, 23, 30, tzinfo=NEW_YORK))
    add(path, "UB", 4_000, at=datetime(2026, 11, 2, 0, 30, tzinfo=NEW_YORK))
    rows = await spend_rows(db, START, END, "day", NEW_YORK)
    assert [(row.group, row.user_id, row.jobs, row.spend_micros) for row in rows] == [
        ("2026-11-02", "UB", 1, 4_000),
        ("2026-11-01", "UA", 2, 3_000),
    ]


async def test_daily_spend_has_every_day_of_the_range(path: Path | str, db: Conn) -> None:
    add(path, "UA", 1_000, at=datetime(2026, 11, 30, 23, 59, tzinfo=NEW_YORK))
    add(path, "UB", 2_000, at=datetime(2026, 11, 30, 8, 0, tzinfo=NEW_YORK))
    add(path, "UB", 5_000, at=datetime(2026, 11, 3, 8, 0, tzinfo=NEW_YORK), status="held")
    days = await daily_spend(db, START, END, NEW_YORK)
    assert [day for day, _ in days] == [date(2026, 11, d) for d in range(1, 31)]
    assert dict(days)[date(2026, 11, 30)] == 3_000
    assert sum(spend for _, spend in days) == 3_000
    assert await daily_spend(db, START, START, NEW_YORK) == []


async def test_other_groupings_give_one_row_per_group_and_person(
    path: Path | str, db: Conn
) -> None:
    add(path, "UA", 3_000, channel="C1", model="m/edit", quality="high")
    add(path, "UA", 1_000, channel="C2", model="m", quality="low")
    add(path, "UB", 2_000, channel="C1", model="m", quality="low")
    add(path, "UB", 1_000, channel="C1", model="m", quality="low")
    by_channel = await spend_rows(db, START, END, "channel", NEW_YORK)
    assert [(r.group, r.user_id, r.jobs, r.spend_micros) for r in by_channel] == [
        ("C1", "UA", 1, 3_000),
        ("C1", "UB", 2, 3_000),
        ("C2", "UA", 1, 1_000),
    ]
    by_model = await spend_rows(db, START, END, "model", NEW_YORK)
    assert [(r.group, r.user_id) for r in by_model] == [("m", "UB"), ("m/edit", "UA"), ("m", "UA")]
    by_quality = await spend_rows(db, START, END, "quality", NEW_YORK)
    assert {(r.group, r.user_id) for r in by_quality} == {
        ("high", "UA"), ("low", "UA"), ("low", "UB"),
    }  # fmt: skip


async def test_range_is_half_open_and_unknown_grouping_is_refused(
    path: Path | str, db: Conn
) -> None:
    add(path, "UA", 1_000, at=NOVEMBER.start)
    add(path, "UB", 2_000, at=NOVEMBER.end)
    rows = await spend_rows(db, START, END, "user", NEW_YORK)
    assert [row.user_id for row in rows] == ["UA"]
    with pytest.raises(ValueError, match="group spend by"):
        await spend_rows(db, START, END, "team", NEW_YORK)  # type: ignore[arg-type]


async def test_held_money_is_what_running_jobs_reserve(path: Path | str, db: Conn) -> None:
    add(path, "UA", 60_000, status="held")
    add(path, "UB", 40_000, status="held")
    add(path, "UB", 20_000, status="held", at=datetime(2026, 12, 2, tzinfo=NEW_YORK))
    add(path, "UA", 42_100)
    add(path, "UA", 0, status="released")
    assert await held_micros(db, START, END) == 100_000
    assert await held_micros(db, START, END, "UB") == 40_000
    assert await held_micros(db, START, END, "UC") == 0


async def test_usage_of_one_person(path: Path | str, db: Conn) -> None:
    assert await usage(db, "UA", START, END) == Usage(0, 0, 0, 0)
    add(path, "UA", 42_100, images=2)
    add(path, "UA", 10_000, estimated=True)
    add(path, "UA", 60_000, status="held", images=4)
    add(path, "UA", 0, status="released", images=3)
    add(path, "UB", 99_000)
    add(path, "UA", 77_000, at=datetime(2026, 10, 20, tzinfo=NEW_YORK))
    assert await usage(db, "UA", START, END) == Usage(
        spent_micros=52_100, held_micros=60_000, jobs=2, images=3
    )


async def test_recent_charges_newest_first_with_prompt_and_state(
    path: Path | str, db: Conn
) -> None:
    for day in range(1, 8):
        status = "held" if day == 7 else "released" if day == 6 else "settled"
        add(path, "UA", 1_000 * day, at=datetime(2026, 11, day, 9, tzinfo=NEW_YORK),
            status=status, prompt=f"prompt {day}", estimated=day == 5)  # fmt: skip
    add(path, "UB", 5, at=datetime(2026, 11, 20, tzinfo=NEW_YORK))
    charges = await recent_charges(db, "UA", limit=3)
    assert [c.prompt for c in charges] == ["prompt 7", "prompt 6", "prompt 5"]
    assert [(c.status, c.state) for c in charges] == [
        ("held", JobState.SUBMITTED),
        ("released", JobState.FAILED),
        ("settled", JobState.DELIVERED),
    ]
    assert [c.estimated for c in charges] == [False, False, True]
    assert [(c.amount_micros, c.images) for c in charges] == [(7_000, 1), (6_000, 1), (5_000, 1)]
    assert len({c.job_id for c in charges}) == 3 and all(c.job_id.startswith("j") for c in charges)
    assert charges[0].created_at == datetime(2026, 11, 7, 9, tzinfo=NEW_YORK)
    assert charges[0].created_at.tzinfo == UTC
    assert len(await recent_charges(db, "UA")) == 5


async def test_demo_money_is_what_the_mock_provider_billed(path: Path | str, db: Conn) -> None:
    add(path, "UA", 42_100)
    add(path, "UA", 60_000, model="mock/openai/gpt-image-2")
    add(path, "UB", 70_000, model="mock/openai/gpt-image-2/edit", status="held")
    add(
        path,
        "UB",
        9_000,
        model="mock/openai/gpt-image-2",
        at=datetime(2026, 12, 2, tzinfo=NEW_YORK),
    )
    assert await demo_micros(db, START, END) == 130_000
    assert await demo_micros(db, START, END, "UA") == 60_000
    assert await demo_micros(db, START, END, "UC") == 0


async def test_daily_spend_east_of_utc_starts_on_the_local_first(
    path: Path | str, db: Conn
) -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    december = month_of(datetime(2026, 12, 10, tzinfo=UTC), tokyo)
    add(path, "UA", 3_000, at=datetime(2026, 12, 1, 0, 30, tzinfo=tokyo))  # 30 Nov in UTC
    days = await daily_spend(db, to_ms(december.start), to_ms(december.end), tokyo)
    assert days[0] == (date(2026, 12, 1), 3_000) and len(days) == 31

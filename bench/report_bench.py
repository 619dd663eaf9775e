"""Benchmark of the spend-report queries: 200,000 charges, target under 100 ms per figure.

Run `python bench/report_bench.py [--charges N]`. It builds a throwaway database with the real
schema (Store.open applies the migrations), fills it with sqlite3's executemany, and times the
ledger's queries on a connection opened the way the Store opens its reader. With
IMAGEBOT_TEST_DATABASE_URL set (a PostgreSQL server where it may create a database), the same
charges are moved there with `imagebot db copy`'s code and the same queries timed again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from bot.domain.periods import date_range
from bot.store import Store
from bot.store.ledger import daily_spend, spend_rows, usage
from bot.store.records import to_ms
from bot.store.schema import connect
from bot.store.sql import Conn
from tests.postgres import fresh_database

TARGET_SECONDS = 0.1
RUNS = 5
DAYS = 60
USERS = 200
CHANNELS = 30
# A zone with a DST change inside the data, so day bucketing is measured on a 25-hour day too.
ZONE = ZoneInfo("Europe/Paris")
LAST_DAY = datetime(2026, 11, 15, tzinfo=UTC).date()
MODELS = ("openai/gpt-image-2", "openai/gpt-image-2/edit")
QUALITIES = ("low", "medium", "high", "auto")


def machine() -> dict[str, str]:
    return {
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def run(charges: int = 200_000) -> list[dict[str, Any]]:
    """Build the database, time each figure (median of RUNS) and return one dict per figure."""
    with tempfile.TemporaryDirectory(prefix="imagebot-bench-") as folder:
        return asyncio.run(_measure(Path(folder) / "bench.db", charges))


async def _measure(path: Path, charges: int) -> list[dict[str, Any]]:
    store = await Store.open(path)
    await store.close()
    _fill(path, charges)
    figures = await _figures(Conn(await connect(path)), charges, "")
    if os.environ.get("IMAGEBOT_TEST_DATABASE_URL"):
        with fresh_database() as url:
            source, destination = await Store.open(path), await Store.open(url)
            try:
                await source.copy_into(destination)
            finally:
                await source.close()
                await destination.close()
            pg = Conn(await psycopg.AsyncConnection.connect(url, autocommit=True))
            # As autovacuum leaves a live table: statistics, and the visibility map without
            # which PostgreSQL reads the table behind a covering index anyway.
            await pg.execute("VACUUM ANALYZE")
            figures += await _figures(pg, charges, " (PostgreSQL)")
    return figures


async def _figures(db: Conn, charges: int, suffix: str) -> list[dict[str, Any]]:
    month = date_range(LAST_DAY - timedelta(days=29), LAST_DAY, ZONE)
    start, end = to_ms(month.start), to_ms(month.end)
    try:
        checks: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("spend_rows by=user, 30 days", lambda: spend_rows(db, start, end, "user", ZONE)),
            ("spend_rows by=day, 30 days", lambda: spend_rows(db, start, end, "day", ZONE)),
            ("spend_rows by=channel, 30 days", lambda: spend_rows(db, start, end, "channel", ZONE)),
            ("usage of one user, 30 days", lambda: usage(db, "U0007", start, end)),
            ("daily_spend (chart), 30 days", lambda: daily_spend(db, start, end, ZONE)),
        ]
        return [await _figure(name + suffix, call, charges) for name, call in checks]
    finally:
        await db.close()


async def _figure(name: str, call: Callable[[], Awaitable[object]], charges: int) -> dict[str, Any]:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    measured = statistics.median(times)
    return {
        "figure": name,
        "charges": charges,
        "target_s": TARGET_SECONDS,
        "measured_s": measured,
        "passed": measured < TARGET_SECONDS,
    }


def _fill(path: Path, charges: int) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        jobs, rows = zip(*_rows(charges), strict=True) if charges else ((), ())
        conn.executemany(
            "INSERT INTO jobs (id, user_id, channel_id, kind, origin, request_json, prompt,"
            " endpoint_id, state, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            jobs,
        )
        conn.executemany(
            "INSERT INTO charges (job_id, user_id, channel_id, model, quality, images, status,"
            " estimate_micros, amount_micros, estimated, created_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _rows(count: int) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    """A job and its charge: mostly settled, some held by running jobs, some released."""
    rng = random.Random(2026)
    end = to_ms(date_range(LAST_DAY, LAST_DAY, ZONE).end)
    span = DAYS * 86_400_000
    for number in range(count):
        job_id, created = f"j{number:08x}", end - rng.randrange(span)
        user, channel = f"U{rng.randrange(USERS):04d}", f"C{rng.randrange(CHANNELS):03d}"
        model, quality, images = rng.choice(MODELS), rng.choice(QUALITIES), rng.randint(1, 4)
        estimate = images * rng.choice((10_000, 40_000, 60_000, 220_000))
        roll = rng.random()
        status, state = (
            ("settled", "delivered")
            if roll < 0.9
            else ("held", "submitted")
            if roll < 0.95
            else ("released", "failed")
        )
        estimated = int(status == "settled" and rng.random() < 0.1)
        amount = {"held": estimate, "released": 0}.get(status, estimate - rng.randrange(5_000))
        yield (
            (
                job_id,
                user,
                channel,
                "generate",
                "command",
                "{}",
                "a poster",
                model,
                state,
                created,
                created,
            ),
            (
                job_id,
                user,
                channel,
                model,
                quality,
                images,
                status,
                estimate,
                amount,
                estimated,
                created,
            ),
        )


def _print(figures: list[dict[str, Any]]) -> None:
    info = machine()
    print(f"machine: {info['platform']}, {info['cpu']}, {info['cpus']} CPUs")
    print(f"python {info['python']}, SQLite {info['sqlite']}")
    print(f"{'figure':<34} {'target':>24} {'measured':>10}  result")
    for figure in figures:
        target = f"< {figure['target_s']:g} s over {figure['charges']:,} charges"
        verdict = "pass" if figure["passed"] else "FAIL"
        print(f"{figure['figure']:<34} {target:>24} {figure['measured_s']:>8.3f} s  {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charges", type=int, default=200_000)
    figures = run(parser.parse_args(argv).charges)
    _print(figures)
    return 0 if all(figure["passed"] for figure in figures) else 1


if __name__ == "__main__":
    sys.exit(main())

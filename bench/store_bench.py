"""Budget admission: holds per second, and concurrent admissions from one bot and from a
second one (a replica on the same file) without "database is locked"."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.rig import Figure
from bot.domain.request import ImageRequest
from bot.store import NewJob, Store

MONTH = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def _job(number: int) -> NewJob:
    return NewJob(
        user_id=f"U{number % 50:04d}",
        channel_id="C1",
        kind="generate",
        origin="command",
        request=ImageRequest(prompt=f"a cat {number}", quality="low"),
        endpoint_id="openai/gpt-image-2",
        model="openai/gpt-image-2",
        estimate_micros=10_000,
    )


async def _admit(store: Store, number: int) -> None:
    await store.admit(
        _job(number), month=MONTH, user_budget_micros=20_000_000, team_budget_micros=None
    )


async def admissions(holds: int, concurrent: int) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="imagebot-bench-") as folder:
        path = Path(folder) / "bench.db"
        store = await Store.open(path)
        replica = await Store.open(path)
        try:
            started = time.perf_counter()
            for number in range(holds):
                await _admit(store, number)
            rate = holds / (time.perf_counter() - started)
            tasks = [_admit(store, holds + n) for n in range(concurrent)]
            tasks += [_admit(replica, holds + concurrent + n) for n in range(concurrent)]
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await store.close()
            await replica.close()
    locked = sum(1 for o in outcomes if isinstance(o, sqlite3.OperationalError))
    failed = sum(1 for o in outcomes if isinstance(o, BaseException))
    return [
        Figure(
            "budget admission, holds per second",
            "> 500/s",
            f"{rate:,.0f}/s",
            rate > 500,
            f"{holds} holds in a row",
        ),
        Figure(
            f"{concurrent} concurrent admissions (+{concurrent} from a second process-like store)",
            'no "database is locked"',
            f"{locked} locked, {failed} failed",
            failed == 0,
        ),
    ]

"""Replicas on one PostgreSQL database: two processes admitting for the same person at once
never pass the budget (admission serialises per person with an advisory lock), and two
starting at once migrate the schema once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bot.store import Store
from bot.store.schema import MIGRATIONS
from tests.postgres import fresh_database

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def test_two_processes_never_admit_past_one_budget(database: str) -> None:
    budget, each = 100_000, 10_000  # room for 10
    replicas = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.store.admit_many", database, "50", str(budget)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for replica in replicas:
        assert replica.stdout is not None and replica.stdout.readline().strip() == "ready"
    for replica in replicas:
        assert replica.stdin is not None
        replica.stdin.write("go\n")
        replica.stdin.flush()
    admitted = [int(replica.communicate(timeout=120)[0].strip()) for replica in replicas]
    assert sum(admitted) == budget // each
    with psycopg.connect(database) as db:
        held = db.execute(
            "SELECT SUM(amount_micros), COUNT(*) FROM charges WHERE user_id = 'URACE'"
            " AND status = 'held'"
        ).fetchone()
    assert held is not None and (int(held[0]), held[1]) == (budget, 10)


async def test_two_replicas_starting_at_once_migrate_once(database: str) -> None:
    first, second = await asyncio.gather(Store.open(database), Store.open(database))
    await first.close()
    await second.close()
    with psycopg.connect(database) as db:
        versions = db.execute("SELECT version FROM imagebot_schema").fetchall()
    assert versions == [(len(MIGRATIONS),)]

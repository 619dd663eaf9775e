"""`imagebot db copy`: a populated SQLite database moved to PostgreSQL keeps every job, charge,
budget, seen event, notice and name, and the spend report reads the same on both."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.cli import main
from bot.domain.failures import ErrorKind
from bot.domain.periods import month_of
from bot.store import Job, Store
from tests import factories
from tests.factories import new_job
from tests.postgres import fresh_database

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
MONTH = month_of(NOW, ZoneInfo("UTC"))
BOUNDS = (MONTH.start, MONTH.end)


@pytest.fixture
def postgres() -> Iterator[str]:
    with fresh_database() as url:
        yield url


async def _populate(path: Path) -> None:
    store = await Store.open(path, clock=lambda: NOW)
    for number, user in enumerate(["UA", "UA", "UB", "UC"]):
        await factories.charged(
            store, new_job(user, key=f"k{number}"), 40_000 + number, request_id=f"r{number}"
        )
    held = await factories.admitted(store, new_job("UB", estimate=7_000))
    failed = await factories.admitted(store, new_job("UC"))
    await store.mark_failed(failed.id, ErrorKind.UNAVAILABLE, "fal is down")
    await store.set_budget("user", "UA", 5_000_000, by="UADMIN")
    await store.set_budget("team", "", None, by="UADMIN")
    assert await store.claim("event:Ev1", 3600)
    assert await store.claim_notice("budget-80:UA:2026-11")
    await store.remember_name("UA", "Ann")
    assert held.state == "held"
    await store.close()


async def _everything(target: Path | str) -> tuple[object, ...]:
    store = await Store.open(target, clock=lambda: NOW)
    try:
        jobs: list[Job] = await store.jobs(limit=100)
        report = await store.report(MONTH, "user", ZoneInfo("UTC"))
        return (
            jobs,
            report.rows,
            report.held_micros,
            await store.budget_for("user", "UA", None),
            await store.budget_for("team", "", 1),
            await store.seen("event:Ev1"),
            await store.claim_notice("budget-80:UA:2026-11"),
            await store.names(),
            await store.usage("UB", MONTH),
        )
    finally:
        await store.close()


def test_copy_to_postgres_keeps_everything(
    tmp_path: Path, postgres: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "imagebot.db"
    asyncio.run(_populate(source))
    before = asyncio.run(_everything(source))
    assert main(["db", "copy", f"sqlite:///{source}", postgres]) == 0
    assert "charges: 6 rows copied" in capsys.readouterr().out
    after = asyncio.run(_everything(postgres))
    assert after == before
    assert len(before[0]) == 6  # type: ignore[arg-type]


def test_copy_refuses_a_destination_with_data(
    tmp_path: Path, postgres: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "imagebot.db"
    asyncio.run(_populate(source))
    assert main(["db", "copy", f"sqlite:///{source}", postgres]) == 0
    assert main(["db", "copy", f"sqlite:///{source}", postgres]) == 2
    assert "copy into an empty database" in capsys.readouterr().err

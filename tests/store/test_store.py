"""The store on a real SQLite file and a real PostgreSQL database: admission against budgets, a job's transitions, dedupe."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.domain.failures import ErrorKind
from bot.domain.periods import Period, date_range
from bot.store import (
    Admission,
    Admitted,
    Duplicate,
    JobState,
    NewJob,
    Refused,
    ResultImage,
    Store,
    StoreError,
)
from bot.store.schema import MIGRATIONS
from tests import factories
from tests.factories import new_job
from tests.helpers import old_database, query

MONTH = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
UTC_ZONE = ZoneInfo("UTC")


def factories_period() -> Period:
    return date_range(date(1970, 1, 1), date(2100, 1, 1), UTC_ZONE)


@pytest.fixture
async def store(target: Path | str) -> AsyncIterator[Store]:
    opened = await Store.open(target, clock=lambda: datetime(2026, 11, 25, tzinfo=UTC))
    yield opened
    await opened.close()


async def admit(
    store: Store, job: NewJob, user_budget: int | None = 100_000, team: int | None = None
) -> Admission:
    return await factories.admit(store, job, user_budget, team, month=MONTH)


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    """For what only SQLite has (PRAGMAs, EXPLAIN QUERY PLAN)."""
    opened = await Store.open(tmp_path / "imagebot.db")
    yield opened
    await opened.close()


async def test_schema_version_and_pragmas(sqlite_store: Store, tmp_path: Path) -> None:
    db = tmp_path / "imagebot.db"
    assert query(db, "PRAGMA user_version")[0][0] == len(MIGRATIONS)
    assert query(db, "PRAGMA journal_mode")[0][0] == "wal"
    reopened = await Store.open(db)  # migrating again is a no-op
    await reopened.close()


async def test_holds_count_against_the_budget_until_released(store: Store) -> None:
    first = await admit(store, new_job(estimate=60_000))
    assert isinstance(first, Admitted)
    refused = await admit(store, new_job(estimate=60_000))
    assert isinstance(refused, Refused)
    assert (refused.scope, refused.budget_micros, refused.spent_micros, refused.left_micros) == (
        "user", 100_000, 60_000, 40_000,
    )  # fmt: skip
    assert await store.mark_failed(first.job.id, ErrorKind.UNAVAILABLE, "fal 500")
    assert isinstance(await admit(store, new_job(estimate=60_000)), Admitted)


async def test_admin_budget_wins_over_default_and_none_means_unlimited(store: Store) -> None:
    await store.set_budget("user", "U1", None, by="UADMIN")
    assert isinstance(await admit(store, new_job(estimate=10_000_000)), Admitted)
    await store.set_budget("default", "", 1, by="UADMIN")
    assert isinstance(await admit(store, new_job(user="U2", estimate=2)), Refused)


async def test_team_budget_across_people(store: Store) -> None:
    assert isinstance(await admit(store, new_job("U1", 60_000), team=100_000), Admitted)
    refused = await admit(store, new_job("U2", 60_000), team=100_000)
    assert isinstance(refused, Refused) and refused.scope == "team"


async def test_concurrent_admissions_never_overspend(store: Store) -> None:
    results = await asyncio.gather(*(admit(store, new_job(estimate=30_000)) for _ in range(20)))
    admitted = [r for r in results if isinstance(r, Admitted)]
    assert len(admitted) == 3  # 3 x 0.03 <= 0.10 < 4 x 0.03


async def test_same_source_key_is_admitted_once(store: Store) -> None:
    first = await admit(store, new_job(key="Ev1"))
    again = await admit(store, new_job(key="Ev1"))
    assert isinstance(first, Admitted) and isinstance(again, Duplicate)
    assert again.job_id == first.job.id


async def test_life_of_a_job_settles_once_at_the_billed_cost(store: Store) -> None:
    admitted = await admit(store, new_job(estimate=60_000))
    assert isinstance(admitted, Admitted)
    job_id = admitted.job.id
    assert await store.mark_submitted(job_id, "req-1", "s", "r", "c")
    assert not await store.mark_submitted(job_id, "req-2", "s", "r", "c")
    images = [ResultImage(url="https://x/1.png", spool_path="spool/1.png")]
    assert await store.mark_generated(job_id, images, Decimal("0.0421"), 42_100)
    assert not await store.mark_generated(job_id, images, Decimal("0.05"), 50_000)
    job = await store.get_job(job_id)
    assert job is not None
    assert job.state == JobState.GENERATED and job.amount_micros == 42_100
    assert job.charge_status == "settled" and job.billed_units == Decimal("0.0421")
    assert await store.mark_delivered(job_id, ["F1"])
    assert not await store.mark_delivered(job_id, ["F2"])
    job = await store.get_job(job_id)
    assert job is not None and job.slack_file_ids == ["F1"]


async def test_generated_without_units_settles_the_estimate_marked_estimated(store: Store) -> None:
    admitted = await admit(store, new_job(estimate=60_000))
    assert isinstance(admitted, Admitted)
    await store.mark_submitted(admitted.job.id, "req", "s", "r", "c")
    await store.mark_generated(admitted.job.id, [], None, None)
    job = await store.get_job(admitted.job.id)
    assert job is not None and job.amount_micros == 60_000 and job.charge_estimated


async def test_cancel_only_before_generated_and_releases(store: Store) -> None:
    admitted = await admit(store, new_job(estimate=60_000))
    assert isinstance(admitted, Admitted)
    assert await store.mark_cancelled(admitted.job.id, "U1")
    job = await store.get_job(admitted.job.id)
    assert job is not None and job.state == JobState.CANCELLED and job.amount_micros == 0
    assert not await store.mark_cancelled(admitted.job.id, "U1")


async def test_claim_is_true_once_until_expiry(store: Store) -> None:
    assert await store.claim("Ev1", ttl_seconds=60)
    assert not await store.claim("Ev1", ttl_seconds=60)
    assert await store.claim("Ev2", ttl_seconds=60)


@pytest.mark.parametrize(
    ("sql", "index"),
    [
        (
            "SELECT COALESCE(SUM(amount_micros), 0) FROM charges"
            " WHERE user_id = 'U1' AND created_at >= 0 AND created_at < 1",
            "charges_user_month",
        ),
        (
            "SELECT user_id, channel_id, SUM(amount_micros), SUM(images),"
            " SUM(CASE WHEN estimated = 0 THEN amount_micros END) FROM charges"
            " WHERE status = 'settled' AND created_at >= 0 AND created_at < 1 GROUP BY user_id",
            "COVERING INDEX charges_settled",
        ),
        ("SELECT id FROM jobs WHERE channel_id = 'C' AND card_ts = '1.2'", "jobs_card"),
        (
            "SELECT id FROM jobs WHERE channel_id = 'C' AND thread_ts = '1.2'"
            " ORDER BY created_at DESC",
            "jobs_thread",
        ),
    ],
)
async def test_budget_and_report_queries_use_an_index(
    sqlite_store: Store, tmp_path: Path, sql: str, index: str
) -> None:
    plan = " ".join(
        str(row[3]) for row in query(tmp_path / "imagebot.db", f"EXPLAIN QUERY PLAN {sql}")
    )
    assert index in plan, plan


async def test_an_unreachable_postgres_is_one_line_without_the_password() -> None:
    with pytest.raises(StoreError) as raised:
        await Store.open("postgresql://bot:s3cret@127.0.0.1:1/imagebot")
    message = str(raised.value)
    assert "\n" not in message and "s3cret" not in message
    assert message.startswith("cannot open the database postgresql://bot@127.0.0.1:1/imagebot:")


async def test_jobs_and_charges_from_before_models_were_a_choice_read_as_gpt_image_2(
    tmp_path: Path,
) -> None:
    """A database left by the last version (schema 3): its job has no model in its request,
    its charge no catalog model; after migration 4 both are GPT Image 2's."""
    path = tmp_path / "old.db"
    with old_database(path, 3) as db:
        old_request = '{"prompt": "a cat", "quality": "low", "n": 1, "output_format": "png"}'
        db.execute(
            "INSERT INTO jobs (id, user_id, channel_id, kind, origin, request_json, prompt,"
            " endpoint_id, state, created_at, updated_at) VALUES"
            " ('j1', 'U1', 'C1', 'generate', 'command', ?, 'a cat', 'openai/gpt-image-2',"
            " 'delivered', 1, 1)",
            (old_request,),
        )
        db.execute(
            "INSERT INTO charges (job_id, user_id, channel_id, model, quality, images, status,"
            " estimate_micros, amount_micros, created_at) VALUES"
            " ('j1', 'U1', 'C1', 'openai/gpt-image-2', 'low', 1, 'settled', 10000, 9000, 1)"
        )
    db.close()

    store = await Store.open(path)
    try:
        job = await store.get_job("j1")
        period = factories_period()
        by_model = await store.spend_rows(period, "model", UTC_ZONE)
    finally:
        await store.close()

    assert job is not None and job.request.model == "gpt-image-2"
    assert job.request.quality == "low" and job.amount_micros == 9000
    assert [(row.group, row.spend_micros) for row in by_model] == [("gpt-image-2", 9000)]
    rows = query(path, "SELECT model, catalog_model FROM charges")
    assert [tuple(row) for row in rows] == [("openai/gpt-image-2", "gpt-image-2")]

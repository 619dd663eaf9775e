"""Job leases on both backends: a job is stepped only by the replica that holds it, a lapsed
or released lease is claimed by another, two replicas claiming at once take different jobs,
and the limits of jobs at fal hold over every replica."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.failures import ErrorKind
from bot.store import JobState, LeaseLost, Store
from tests.factories import admitted, new_job
from tests.helpers import SetClock, old_database

LEASE = 30.0


@pytest.fixture
def clock() -> SetClock:
    return SetClock(datetime(2026, 11, 5, 12, 0, tzinfo=UTC))


@pytest.fixture
async def replicas(target: Path | str, clock: SetClock) -> AsyncIterator[tuple[Store, Store]]:
    first = await Store.open(target, clock=clock, lease_seconds=LEASE)
    second = await Store.open(target, clock=clock, lease_seconds=LEASE)
    yield first, second
    await first.close()
    await second.close()


async def test_only_the_holder_steps_a_job_until_its_lease_lapses(
    replicas: tuple[Store, Store], clock: SetClock
) -> None:
    a, b = replicas
    job = await admitted(a)  # the admitting replica holds it
    assert await b.claim_jobs() == []
    with pytest.raises(LeaseLost):
        await b.mark_submit_sent(job.id)
    with pytest.raises(LeaseLost):
        await b.set_card(job.id, "1.1", "1.1")

    clock.now += timedelta(seconds=LEASE)
    assert await b.claim_jobs() == [job.id]
    with pytest.raises(LeaseLost):
        await a.mark_submit_sent(job.id)
    assert await b.mark_submit_sent(job.id)
    assert await b.mark_submitted(job.id, "req-1", "s", "r", "c")
    assert (await b.get_job(job.id)).state == JobState.SUBMITTED  # type: ignore[union-attr]
    assert await b.transitions(job.id) == [
        ("submit_sent", b.replica),
        ("submitted", b.replica),
    ]


async def test_a_renewed_lease_is_not_claimed_and_a_released_one_is_at_once(
    replicas: tuple[Store, Store], clock: SetClock
) -> None:
    a, b = replicas
    job = await admitted(a)
    clock.now += timedelta(seconds=LEASE / 3)
    assert await a.renew_leases([job.id]) == {job.id}
    clock.now += timedelta(seconds=LEASE / 2)
    assert await b.claim_jobs() == []
    assert await b.renew_leases([job.id]) == set()  # not b's to renew

    assert await a.release_leases() == 1
    assert await b.claim_jobs() == [job.id]
    assert await a.renew_leases([job.id]) == set()


async def test_a_lone_process_at_its_start_takes_every_unfinished_job(
    replicas: tuple[Store, Store],
) -> None:
    a, b = replicas
    job = await admitted(a)
    assert await b.claim_jobs(every=True) == [job.id]
    with pytest.raises(LeaseLost):
        await a.mark_card_done(job.id)


async def test_two_replicas_claiming_at_once_take_different_jobs(
    replicas: tuple[Store, Store], clock: SetClock
) -> None:
    a, b = replicas
    jobs = [(await admitted(a, new_job(user=f"U{n}"))).id for n in range(12)]
    clock.now += timedelta(seconds=LEASE)
    claimed = await asyncio.gather(a.claim_jobs(), b.claim_jobs(), a.claim_jobs())
    together = [job_id for batch in claimed for job_id in batch]
    assert sorted(together) == sorted(jobs)


async def test_a_parked_job_waits_for_its_deadline_unless_fal_reports(
    replicas: tuple[Store, Store], clock: SetClock
) -> None:
    a, b = replicas
    parked, leased = (await admitted(a)).id, (await admitted(a)).id
    assert await a.park(parked, 90)
    assert await b.claim_jobs() == []
    assert not await b.claim_job(leased)  # a's lease still runs
    assert await b.claim_job(parked)  # fal said it finished: anyone may go on with it
    clock.now += timedelta(seconds=LEASE / 3)
    assert await b.renew_leases([parked]) == {parked}
    clock.now += timedelta(seconds=LEASE / 2)
    assert await b.claim_jobs() == [leased]


async def test_the_limits_of_jobs_at_fal_hold_across_replicas(
    replicas: tuple[Store, Store],
) -> None:
    a, b = replicas
    ann = [(await admitted(a, new_job(user="UANN"))).id for _ in range(3)]
    bob = [(await admitted(b, new_job(user="UBOB"))).id for _ in range(2)]
    total, per_user = 3, 2
    assert await a.take_slot(ann[0], "UANN", total, per_user)
    assert await a.take_slot(ann[0], "UANN", total, per_user)  # taken once, counted once
    assert await b.take_slot(bob[0], "UBOB", total, per_user)
    assert await a.take_slot(ann[1], "UANN", total, per_user)
    assert not await b.take_slot(bob[1], "UBOB", total, per_user)  # 3 at fal in all
    assert not await a.take_slot(ann[2], "UANN", total, per_user)

    assert not await a.take_slot(ann[2], "UANN", total, per_user)

    assert await a.mark_failed(ann[0], ErrorKind.UNAVAILABLE, "fal 500")  # no longer at fal
    assert await b.take_slot(bob[1], "UBOB", total, per_user)
    assert not await a.take_slot(ann[2], "UANN", total, per_user)
    assert await b.release_leases() == 2  # bob[1] sent nothing to fal: its place is given back
    assert await a.take_slot(ann[2], "UANN", total, per_user)


async def test_a_job_at_fal_in_a_database_from_before_leases_counts_and_can_be_claimed(
    tmp_path: Path,
) -> None:
    """A database left by the last version (schema 4) with a job at fal: after migration 5 it
    counts against the limits of jobs at fal, and nobody holds it, so a start takes it."""
    path = tmp_path / "old.db"
    with old_database(path, 4) as db:
        db.execute(
            "INSERT INTO jobs (id, user_id, channel_id, kind, origin, request_json, prompt,"
            " endpoint_id, state, created_at, updated_at, submit_sent_at, submitted_at) VALUES"
            " ('j1', 'U1', 'C1', 'generate', 'command', ?, 'a cat',"
            " 'openai/gpt-image-2', 'submitted', 1, 1, 2, 3)",
            ('{"prompt": "a cat"}',),
        )
    db.close()

    store = await Store.open(path)
    try:
        job = await admitted(store, new_job(user="U1"))
        assert not await store.take_slot(job.id, "U1", total=1, per_user=1)
        assert await store.claim_jobs() == ["j1"]
    finally:
        await store.close()

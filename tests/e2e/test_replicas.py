"""Two bot processes on one PostgreSQL database behind the same Slack and fal: every job is
delivered once and charged once, each job is stepped by one replica at a time (the store's
transition log says who), the limits of jobs at fal hold across both, and when one replica is
killed the other takes its jobs over and finishes them from where they were, images included.
Skipped without PostgreSQL (a failure in CI)."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.harness import SIGNING_SECRET, bot_env
from bot.testing.slack.driver import SlackDriver
from bot.testing.slack.standin import SlackStandIn
from tests.helpers import BotProcess, free_port, wait_until
from tests.postgres import fresh_database

pytestmark = pytest.mark.slow

LEASE_SECONDS = 3.0
WEBHOOK_GRACE = 20.0
PEOPLE = ["U0ALICE", "U0BOB", "U0CAROL", "U0DAN", "U0ERIN"]


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def rows(database: str, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(database) as db:
        return list(db.execute(sql.encode(), args).fetchall())


def replica(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path, database: str, name: str, **extra: str
) -> BotProcess:
    folder = tmp_path / name
    folder.mkdir()
    extra.setdefault("IMAGEBOT_LEASE_SECONDS", str(LEASE_SECONDS))
    env = bot_env(
        slack, folder, FAL_KEY=fal.key, IMAGEBOT_DATABASE_URL=database,
        # One spool that both replicas mount, as deploy/compose.yml does.
        IMAGEBOT_SPOOL_DIR=str(tmp_path / "spool"), **extra,
    )  # fmt: skip
    return BotProcess(env, folder)


def lose_disk(folder: Path) -> None:
    """A dead host takes its own disk with it (the log files stay, for reading)."""
    for path in folder.iterdir():
        if path.is_dir():
            shutil.rmtree(path)
        elif not path.name.startswith("bot-"):
            path.unlink()


def all_delivered(database: str, jobs: int) -> bool:
    done = rows(database, "SELECT 1 FROM jobs WHERE state = 'delivered' AND card_done = 1")
    return len(done) == jobs


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    moments = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = now = 0
    for _, change in moments:
        now += change
        most = max(most, now)
    return most


def delivered_once(slack: SlackStandIn, fal: FalStandIn, database: str, jobs: int) -> None:
    """One card and one upload of fal's own bytes per job, one charge each at fal's bill."""
    assert len(fal.requests) == jobs
    completed = [u for u in slack.uploads if u.completed]
    assert sorted(u.bytes for u in completed) == sorted(
        r.media[r.image_urls[0]] for r in fal.requests
    )
    cards = [m for m in slack.messages("C0GENERAL") if m.get("thread_ts", m["ts"]) == m["ts"]]
    assert len(cards) == jobs
    assert all("Done in" in str(card["blocks"]) for card in cards)
    charges = rows(database, "SELECT status, amount_micros FROM charges")
    assert sorted(charges) == [("settled", 42_100)] * jobs


def steppers(database: str) -> dict[str, list[str]]:
    """Each job's steps' replicas, in the order they were taken."""
    found: dict[str, list[str]] = {}
    for job_id, who in rows(database, "SELECT job_id, replica FROM job_transitions ORDER BY at"):
        found.setdefault(job_id, []).append(who)
    return found


async def test_two_replicas_deliver_every_job_once_within_the_shared_limits(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path, database: str
) -> None:
    fal.default = FalBehaviour(run_seconds=0.5, billable_units=Decimal("0.0421"))
    for person in PEOPLE[2:]:
        slack.add_user(person, person.lower())
    limits = {"IMAGEBOT_MAX_JOBS_AT_FAL": "2", "IMAGEBOT_MAX_JOBS_PER_USER": "1"}
    bots = [replica(slack, fal, tmp_path, database, name, **limits) for name in ("a", "b")]
    drivers = [SlackDriver(bot.events_url, SIGNING_SECRET, slack) for bot in bots]
    try:
        await asyncio.gather(*(bot.start() for bot in bots))
        replies = await asyncio.gather(
            *(
                drivers[n % 2].command("/image", f"lantern {n} --quality low", user=PEOPLE[n % 5])
                for n in range(20)
            )
        )
        assert all(reply.status == 200 for reply in replies)
        await wait_until(lambda: all_delivered(database, 20), 180, what="all 20 jobs delivered")
    finally:
        for driver in drivers:
            await driver.close()
        for bot in bots:
            bot.stop()

    delivered_once(slack, fal, database, 20)
    stepped = steppers(database)
    assert len(stepped) == 20 and all(len(set(who)) == 1 for who in stepped.values())
    assert len({who[0] for who in stepped.values()}) == 2  # both replicas drove jobs
    at_fal = [(r.submitted_at, r.done_at() or 0.0) for r in fal.requests]
    assert most_at_once(at_fal) <= 2
    for person in PEOPLE:
        mine = [
            (r.submitted_at, r.done_at() or 0.0)
            for r, job in zip(fal.requests, _jobs_by_request(database, fal), strict=True)
            if job == person
        ]
        assert most_at_once(mine) <= 1


def _jobs_by_request(database: str, fal: FalStandIn) -> list[str]:
    """The person behind each of fal's requests, in fal's order."""
    users = dict(rows(database, "SELECT fal_request_id, user_id FROM jobs"))
    return [users[r.request_id] for r in fal.requests]


async def test_a_killed_replicas_jobs_are_finished_by_the_other_from_where_they_were(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path, database: str
) -> None:
    fal.default = FalBehaviour(run_seconds=0.3, billable_units=Decimal("0.0421"))
    slow = FalBehaviour(run_seconds=6.0, billable_units=Decimal("0.0421"))
    fal.plan_for("slow", slow)
    limits = {"IMAGEBOT_MAX_JOBS_AT_FAL": "2"}
    doomed, survivor = (replica(slack, fal, tmp_path, database, n, **limits) for n in "ab")
    driver = SlackDriver(doomed.events_url, SIGNING_SECRET, slack)
    try:
        await asyncio.gather(doomed.start(), survivor.start())
        # Delivered, its card not yet final.
        slack.stall("chat.update", 60, times=None)
        await driver.command("/image", "final harbour --quality low")
        unfinal = "SELECT 1 FROM jobs WHERE state = 'delivered' AND card_done = 0"
        await wait_until(lambda: rows(database, unfinal), 30, what="a card not yet final")
        # Generated, its upload failing: the images wait in the spool.
        slack.fail_upload(times=None)
        await driver.command("/image", "quick harbour --quality low")
        generated = (
            "SELECT fal_request_id FROM jobs WHERE state = 'generated' AND upload_started = 1"
        )
        await wait_until(lambda: rows(database, generated), 30, what="an upload failing")
        # At fal, both slots taken; then one held back in the bot's own line.
        for prompt in ("slow dune 1", "slow dune 2"):
            await driver.command("/image", f"{prompt} --quality low")
        at_fal = "SELECT 1 FROM jobs WHERE state = 'submitted'"
        await wait_until(lambda: len(rows(database, at_fal)) == 2, 30, what="two jobs at fal")
        await driver.command("/image", "patient harbour --quality low")
        waiting = "SELECT 1 FROM jobs WHERE state = 'held' AND card_ts IS NOT NULL"
        await wait_until(lambda: rows(database, waiting), 30, what="a job waiting for a slot")
        # Its card posted, but Slack's answer (the card's ts) not yet back.
        slack.stall("chat.postMessage", 60)
        await driver.command("/image", "unanswered harbour --quality low")
        await wait_until(
            lambda: any("unanswered" in str(m) for m in slack.messages("C0GENERAL")),
            30,
            what="a card posted, its answer held back",
        )

        ((request_id,),) = rows(database, generated)
        fal.expire_media(request_id)  # fal no longer serves it: only the spool has the images
        doomed.kill()
        killed = time.monotonic()
        lose_disk(doomed.folder)
        slack.clear_faults()

        await wait_until(lambda: all_delivered(database, 6), 90, what="all 6 jobs delivered")
        took = time.monotonic() - killed
    finally:
        await driver.close()
        doomed.stop()
        survivor.stop()

    # The slow ones had up to 6 s left at fal, and the waiting one runs after them.
    assert took < LEASE_SECONDS + 2 * slow.run_seconds + 10, took
    delivered_once(slack, fal, database, 6)
    for who in steppers(database).values():
        handovers = sum(1 for first, then in itertools.pairwise(who) if first != then)
        assert handovers <= 1, who  # the dead replica never stepped after the survivor


async def test_a_webhook_finishes_a_job_on_the_replica_that_did_not_submit_it(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path, database: str
) -> None:
    fal.default = FalBehaviour(run_seconds=0.5, stream=False, billable_units=Decimal("0.0421"))
    fal.plan_for("unheard", FalBehaviour(run_seconds=0.5, webhook="drop"))
    # fal's webhooks reach the bot through its public URL, which here leads to replica b
    # (a load balancer would pick either).
    hooks_at = free_port()
    webhooks = {
        "IMAGEBOT_PUBLIC_URL": f"http://127.0.0.1:{hooks_at}",
        "IMAGEBOT_FAL_JWKS_URL": fal.jwks_url,
        "IMAGEBOT_WEBHOOK_GRACE_SECONDS": str(WEBHOOK_GRACE),
    }
    submitter = replica(slack, fal, tmp_path, database, "a", **webhooks)
    receiver = replica(slack, fal, tmp_path, database, "b", **webhooks)
    receiver.port = hooks_at
    driver = SlackDriver(submitter.events_url, SIGNING_SECRET, slack)
    try:
        await asyncio.gather(submitter.start(), receiver.start())
        await driver.command("/image", "a heron at dawn --quality low")
        # Well before the grace: only the webhook can have moved it.
        await wait_until(
            lambda: all_delivered(database, 1), WEBHOOK_GRACE - 5, what="the webhook's job"
        )
        # A webhook that never comes: after the grace, a replica follows the job at fal.
        await driver.command("/image", "an unheard bell --quality low")
        await wait_until(lambda: all_delivered(database, 2), 60, what="the job with no webhook")
    finally:
        await driver.close()
        submitter.stop()
        receiver.stop()

    delivered_once(slack, fal, database, 2)
    heard, unheard = (r for r in fal.requests)
    assert heard.webhook_answers == [200] and unheard.webhook_answers == []
    job_id = rows(database, "SELECT id FROM jobs WHERE fal_request_id = %s", (heard.request_id,))
    steps = rows(
        database, "SELECT step, replica FROM job_transitions WHERE job_id = %s ORDER BY at",
        (job_id[0][0],),
    )  # fmt: skip
    (submitted,) = [who for step, who in steps if step == "submitted"]
    (generated,) = [who for step, who in steps if step == "generated"]
    assert f":{submitter.pid}:" in submitted and f":{receiver.pid}:" in generated


async def test_a_replica_stopped_with_sigterm_hands_its_jobs_over_at_once(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path, database: str
) -> None:
    fal.default = FalBehaviour(run_seconds=1.5, billable_units=Decimal("0.0421"))
    # Long leases: a job the stopping replica kept would wait at least a third of one.
    lease = 45.0
    leaving, staying = (
        replica(slack, fal, tmp_path, database, n, IMAGEBOT_LEASE_SECONDS=str(lease)) for n in "ab"
    )
    driver = SlackDriver(leaving.events_url, SIGNING_SECRET, slack)
    try:
        await asyncio.gather(leaving.start(), staying.start())
        await driver.command("/image", "a ferry leaving --quality low")
        at_fal = "SELECT 1 FROM jobs WHERE state = 'submitted'"
        await wait_until(lambda: rows(database, at_fal), 30, what="the job at fal")
        await leaving.terminate()
        await wait_until(
            lambda: all_delivered(database, 1), lease / 3 - 1, what="the job, by the other"
        )
    finally:
        await driver.close()
        leaving.stop()
        staying.stop()

    assert "released 1 jobs for another replica" in leaving.log()
    delivered_once(slack, fal, database, 1)
    (who,) = steppers(database).values()
    assert f":{staying.pid}:" in who[-1]

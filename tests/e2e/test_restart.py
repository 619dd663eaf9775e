"""A real bot process killed with SIGKILL at each point of a job's life, then started again on
the same database: every job finishes once, posts once, and is charged once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.harness import SIGNING_SECRET, bot_env
from bot.testing.slack.driver import SlackDriver
from bot.testing.slack.standin import SlackStandIn
from tests.helpers import BotProcess, query, wait_until

pytestmark = pytest.mark.slow


@dataclass
class Moment:
    """Where to kill the bot: faults that hold a job there, and how to see it got there."""

    name: str
    prepare: Callable[[SlackStandIn, FalStandIn], None]
    reached: str  # SQL that returns a row once the job is at that point
    jobs: int = 1
    extra_env: dict[str, str] | None = None


MOMENTS = [
    Moment(
        "held, card posted but its ts not stored",
        lambda slack, fal: slack.stall("chat.postMessage", 60),
        "SELECT 1 FROM jobs WHERE state = 'held' AND card_ts IS NULL",
    ),
    Moment(
        "held, waiting in the bot's own queue",
        lambda slack, fal: setattr(fal, "default", FalBehaviour(run_seconds=2.5)),
        # The other job is at fal by then: a kill inside a submit could leave fal a request
        # the bot never heard of (fal's queue has no idempotency key; see the README).
        "SELECT 1 FROM jobs WHERE state = 'held' AND card_ts IS NOT NULL"
        " AND EXISTS (SELECT 1 FROM jobs WHERE state = 'submitted')",
        jobs=2,
        extra_env={"IMAGEBOT_MAX_JOBS_AT_FAL": "1"},
    ),
    Moment(
        "submitted, at fal",
        lambda slack, fal: setattr(fal, "default", FalBehaviour(run_seconds=5.0)),
        "SELECT 1 FROM jobs WHERE state = 'submitted'",
    ),
    Moment(
        "generated, upload failing",
        lambda slack, fal: slack.fail_upload(times=None),
        "SELECT 1 FROM jobs WHERE state = 'generated' AND upload_started = 1",
    ),
    Moment(
        "uploaded, but Slack's answer not yet back",
        lambda slack, fal: slack.stall("files.completeUploadExternal", 60),
        "SELECT 1 FROM jobs WHERE state = 'generated' AND upload_started = 1",
    ),
    Moment(
        "delivered, card not yet final",
        lambda slack, fal: slack.stall("chat.update", 60, times=None),
        "SELECT 1 FROM jobs WHERE state = 'delivered' AND card_done = 0",
    ),
]


async def all_delivered(db: Path, jobs: int) -> None:
    await wait_until(
        lambda: (
            len(query(db, "SELECT 1 FROM jobs WHERE state = 'delivered' AND card_done = 1")) == jobs
        ),
        40,
        what="every job delivered after the restart",
    )


@pytest.mark.parametrize("moment", MOMENTS, ids=[m.name for m in MOMENTS])
async def test_killed_at_each_moment_every_job_finishes_once(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path, moment: Moment
) -> None:
    fal.default = FalBehaviour(run_seconds=0.3, billable_units=Decimal("0.0421"))
    env = bot_env(slack, tmp_path, FAL_KEY=fal.key, **(moment.extra_env or {}))
    proc = BotProcess(env, tmp_path)
    db = tmp_path / "imagebot.db"
    try:
        await proc.start()
        moment.prepare(slack, fal)
        driver = SlackDriver(proc.events_url, SIGNING_SECRET, slack)
        for number in range(moment.jobs):
            assert (await driver.command("/image", f"harbour {number} --quality low")).status == 200
        await wait_until(lambda: query(db, moment.reached), 30, what=moment.name)
        if moment.name.startswith("uploaded"):
            await wait_until(lambda: any(u.completed for u in slack.uploads), 30, what="upload")
        proc.kill()
        slack.clear_faults()

        await proc.start()
        await all_delivered(db, moment.jobs)
        await driver.close()
    finally:
        proc.stop()

    assert len(fal.requests) == moment.jobs
    completed = [u for u in slack.uploads if u.completed]
    assert sorted(u.bytes for u in completed) == sorted(
        r.media[r.image_urls[0]] for r in fal.requests
    )
    cards = [m for m in slack.messages("C0GENERAL") if m.get("thread_ts", m["ts"]) == m["ts"]]
    assert len(cards) == moment.jobs
    assert all("Done in" in str(card["blocks"]) for card in cards)
    charges = query(db, "SELECT status, amount_micros FROM charges")
    assert [(c["status"], c["amount_micros"]) for c in charges] == [
        ("settled", 42_100)
    ] * moment.jobs
    assert slack.bot_token not in proc.log() and fal.key not in proc.log()


async def test_sigterm_stops_within_ten_seconds_and_the_job_resumes(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path
) -> None:
    fal.default = FalBehaviour(run_seconds=4.0, billable_units=Decimal("0.0421"))
    proc = BotProcess(bot_env(slack, tmp_path, FAL_KEY=fal.key), tmp_path)
    db = tmp_path / "imagebot.db"
    try:
        await proc.start()
        driver = SlackDriver(proc.events_url, SIGNING_SECRET, slack)
        await driver.command("/image", "a slow sunset --quality low")
        await wait_until(lambda: query(db, "SELECT 1 FROM jobs WHERE state = 'submitted'"), 30)

        seconds = await proc.terminate()

        assert seconds < 10 and proc.proc is not None and proc.proc.returncode == 0
        assert query(db, "SELECT state FROM jobs")[0]["state"] == "submitted"
        await proc.start()
        await all_delivered(db, 1)
        await driver.close()
    finally:
        proc.stop()
    assert len(fal.requests) == 1 and len([u for u in slack.uploads if u.completed]) == 1


async def test_an_event_delivered_again_after_a_restart_makes_no_second_job(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path
) -> None:
    proc = BotProcess(bot_env(slack, tmp_path, FAL_KEY=fal.key), tmp_path)
    db = tmp_path / "imagebot.db"
    try:
        await proc.start()
        driver = SlackDriver(proc.events_url, SIGNING_SECRET, slack)
        dm = slack.add_channel("D0ALICE", "", is_im=True, user="U0ALICE")
        message = slack.add_message(dm.id, "a paper crane")
        event = driver.message_event(message, channel=dm.id, channel_type="im")
        await driver.event(event, event_id="Ev0ONCE")
        await wait_until(lambda: query(db, "SELECT 1 FROM jobs WHERE card_done = 1"), 30)
        proc.kill()

        await proc.start()
        for retry in (1, 2):
            reply = await driver.event(event, event_id="Ev0ONCE", retry_num=retry)
            assert reply.status == 200
        await wait_until(
            lambda: proc.log().count("event delivered again, ignored event=Ev0ONCE") == 2,
            what="both deliveries to be dropped",
        )
        await driver.close()
    finally:
        proc.stop()
    assert len(query(db, "SELECT 1 FROM jobs")) == 1 and len(fal.requests) == 1


async def test_a_job_that_finished_while_the_bot_was_down_is_delivered_after_its_deadline(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path
) -> None:
    fal.default = FalBehaviour(run_seconds=2.0, billable_units=Decimal("0.0421"))
    env = bot_env(slack, tmp_path, FAL_KEY=fal.key, IMAGEBOT_JOB_DEADLINE_SECONDS="3")
    proc = BotProcess(env, tmp_path)
    db = tmp_path / "imagebot.db"
    try:
        await proc.start()
        driver = SlackDriver(proc.events_url, SIGNING_SECRET, slack)
        await driver.command("/image", "a slow dawn --quality low")
        await wait_until(lambda: query(db, "SELECT 1 FROM jobs WHERE state = 'submitted'"), 30)
        proc.kill()
        await wait_until(lambda: fal.requests[0].completed_at is not None, 30)
        await wait_until(
            lambda: (datetime.now(UTC) - _submitted(db)).total_seconds() > 3.5,
            30,
            what="the deadline to pass while the bot is down",
        )

        await proc.start()
        await all_delivered(db, 1)
        await driver.close()
    finally:
        proc.stop()
    charges = query(db, "SELECT status, amount_micros, estimated FROM charges")
    assert [tuple(c) for c in charges] == [("settled", 42_100, 0)]
    assert len([u for u in slack.uploads if u.completed]) == 1


def _submitted(db: Path) -> datetime:
    (row,) = query(db, "SELECT submitted_at FROM jobs")
    return datetime.fromtimestamp(row[0] / 1000, tz=UTC)

"""What Slack really does to posts and uploads: a 5xx after the post landed, a share that shows
in the thread only later (also across a kill), a response_url that has expired. Each image and
card still appears exactly once, and the person still hears what happened."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from bot.store import JobState
from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.harness import SIGNING_SECRET, RunningBot, bot_env, running_bot
from bot.testing.slack.driver import SlackDriver
from bot.testing.slack.models import Call
from bot.testing.slack.standin import SlackStandIn
from tests.helpers import BotProcess, query, wait_until


@pytest.fixture
async def bot(slack: SlackStandIn, fal: FalStandIn, tmp_path: Path) -> AsyncIterator[RunningBot]:
    fal.default = FalBehaviour(run_seconds=0.2, billable_units=Decimal("0.0421"))
    async with running_bot(slack, bot_env(slack, tmp_path, FAL_KEY=fal.key)) as running:
        yield running


def cards(slack: SlackStandIn, channel: str = "C0GENERAL") -> list[dict[str, object]]:
    return [m for m in slack.messages(channel) if m.get("thread_ts", m["ts"]) == m["ts"]]


def card_posts(slack: SlackStandIn) -> list[Call]:
    """Posts of cards (the buttons under the images are posted in the thread)."""
    return [c for c in slack.calls_to("chat.postMessage") if "thread_ts" not in c.args]


def file_messages(slack: SlackStandIn, channel: str, thread_ts: str) -> list[dict[str, object]]:
    return [m for m in slack.thread(channel, thread_ts) if m.get("files")]


async def test_a_card_post_answered_500_after_it_landed_is_not_posted_again(
    bot: RunningBot, slack: SlackStandIn
) -> None:
    slack.server_error("chat.postMessage", status=500, landed=True)

    await bot.driver.command("/image", "a heron --quality low")

    job = (await bot.finished())[-1]
    assert job.state == JobState.DELIVERED
    (card,) = cards(slack)
    assert card["ts"] == job.card_ts and "Done in" in str(card["blocks"])
    assert [c.status for c in card_posts(slack)] == [500]


async def test_a_post_answered_500_that_did_not_land_is_posted_once_more(
    bot: RunningBot, slack: SlackStandIn
) -> None:
    slack.server_error("chat.postMessage", status=503)

    await bot.driver.command("/image", "a heron --quality low")

    job = (await bot.finished())[-1]
    assert job.state == JobState.DELIVERED and len(cards(slack)) == 1
    assert [c.status for c in card_posts(slack)] == [503, 200]


async def test_an_upload_completed_but_answered_500_is_not_shared_twice(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    slack.server_error("files.completeUploadExternal", status=500, landed=True)

    await bot.driver.command("/image", "a heron --quality low")

    job = (await bot.finished())[-1]
    assert job.state == JobState.DELIVERED and job.thread_ts is not None
    await slack.wait_for(lambda: not slack.shares_pending)
    shared = file_messages(slack, "C0GENERAL", job.thread_ts)
    assert len(shared) == 1 and [u.completed for u in slack.uploads] == [True]
    assert job.slack_file_ids == [slack.uploads[0].file_id]


async def test_a_person_told_after_their_response_url_expired_gets_a_dm(
    bot: RunningBot, slack: SlackStandIn
) -> None:
    slack.fail("files.completeUploadExternal", "is_archived", times=None)

    await bot.driver.command("/image", "a heron --quality low")
    slack.advance(31 * 60)  # the job outlives the command's response_url

    job = (await bot.finished())[-1]
    assert job.state == JobState.FAILED
    assert slack.responses[-1].status == 404
    (told,) = [c.args for c in slack.calls_to("chat.postMessage") if c.args["channel"][0] == "D"]
    assert slack.channel(told["channel"]).user == "U0ALICE" and "couldn't post it" in told["text"]


@pytest.mark.slow
async def test_killed_right_after_completing_an_upload_each_image_is_in_the_thread_once(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path
) -> None:
    fal.default = FalBehaviour(run_seconds=0.2, billable_units=Decimal("0.0421"))
    slack.share_delay = 6.0  # the share is still pending when the bot comes back
    proc = BotProcess(bot_env(slack, tmp_path, FAL_KEY=fal.key), tmp_path)
    db = tmp_path / "imagebot.db"
    try:
        await proc.start()
        slack.stall("files.completeUploadExternal", 60)
        driver = SlackDriver(proc.events_url, SIGNING_SECRET, slack)
        await driver.command("/image", "two herons --quality low --n 2")
        await wait_until(lambda: any(u.completed for u in slack.uploads), 30, what="completion")
        proc.kill()
        slack.clear_faults()
        assert not file_messages(slack, "C0GENERAL", slack.uploads[0].thread_ts or "")

        await proc.start()
        await wait_until(
            lambda: query(db, "SELECT 1 FROM jobs WHERE state = 'delivered' AND card_done = 1"),
            40,
            what="the job delivered after the restart",
            log=proc.log,
        )
        await driver.close()
    finally:
        proc.stop()
    await slack.wait_for(lambda: not slack.shares_pending, 20)
    shared = file_messages(slack, "C0GENERAL", slack.uploads[0].thread_ts or "")
    assert [len(m["files"]) for m in shared] == [2]  # type: ignore[arg-type]
    assert [u.completed for u in slack.uploads] == [True, True]
    assert "upload had landed before" in proc.log()

"""A real bot process killed with SIGKILL mid-job and started again on the same database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from bot.testing.driver import SlackDriver
from bot.testing.fal_standin import FalBehaviour, FalStandIn
from bot.testing.harness import SIGNING_SECRET, bot_env
from bot.testing.slack_standin import SlackStandIn
from tests.helpers import BotProcess, query, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
async def proc(slack: SlackStandIn, fal: FalStandIn, tmp_path: Path) -> AsyncIterator[BotProcess]:
    process = BotProcess(bot_env(slack, tmp_path, FAL_KEY=fal.key), tmp_path)
    yield process
    process.stop()


async def test_killed_while_at_fal_the_job_completes_once(
    proc: BotProcess, slack: SlackStandIn, fal: FalStandIn, tmp_path: Path
) -> None:
    fal.default = FalBehaviour(run_seconds=6.0, billable_units=Decimal("0.0421"))
    await proc.start()
    driver = SlackDriver(proc.events_url, SIGNING_SECRET, slack)
    db = tmp_path / "imagebot.db"

    reply = await driver.command("/image", "a lighthouse in fog --quality low")
    assert reply.status == 200
    await wait_until(
        lambda: query(db, "SELECT 1 FROM jobs WHERE state = 'submitted'"), what="the job at fal"
    )
    proc.kill()
    assert slack.uploads == []

    await proc.start()
    await wait_until(
        lambda: query(db, "SELECT 1 FROM jobs WHERE state = 'delivered' AND card_done = 1"),
        timeout=40,
        what="the resumed job to be delivered",
    )
    await driver.close()

    assert len(fal.requests) == 1
    record = fal.requests[0]
    completed = [u for u in slack.uploads if u.completed]
    assert [u.bytes for u in completed] == [record.media[record.image_urls[0]]]
    cards = [
        m for m in slack.messages("C0GENERAL") if "thread_ts" not in m or m["thread_ts"] == m["ts"]
    ]
    assert len(cards) == 1
    charges = query(db, "SELECT status, amount_micros FROM charges")
    assert [(c["status"], c["amount_micros"]) for c in charges] == [("settled", 42_100)]

"""A bot process killed after fal queued its submit but before it stored fal's answer: on the
next start the job finds its request in fal's history instead of sending another."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.harness import SIGNING_SECRET, bot_env
from bot.testing.slack.driver import SlackDriver
from bot.testing.slack.standin import SlackStandIn
from tests.helpers import BotProcess, query, wait_until

pytestmark = pytest.mark.slow


async def test_killed_between_fal_queueing_the_submit_and_storing_its_answer(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path
) -> None:
    # fal queues the request at once but its answer takes 60 s to come back.
    fal.plan(FalBehaviour(submit_delay=60, run_seconds=0.3, billable_units=Decimal("0.0421")))
    proc = BotProcess(bot_env(slack, tmp_path, FAL_KEY=fal.key), tmp_path)
    db = tmp_path / "imagebot.db"
    try:
        await proc.start()
        driver = SlackDriver(proc.events_url, SIGNING_SECRET, slack)
        assert (await driver.command("/image", "a harbour at night --quality low")).status == 200
        await wait_until(lambda: len(fal.requests) == 1, 30, what="fal to queue the submit")
        assert query(db, "SELECT state, submit_sent_at FROM jobs")[0]["submit_sent_at"]
        proc.kill()
        assert query(db, "SELECT state FROM jobs")[0]["state"] == "held"

        await proc.start()
        await wait_until(
            lambda: query(db, "SELECT 1 FROM jobs WHERE state = 'delivered' AND card_done = 1"),
            40,
            what="the job to be delivered after the restart",
        )
        await driver.close()
    finally:
        proc.stop()

    (record,) = fal.requests
    assert fal.calls["submit"] == 1
    (job,) = query(db, "SELECT fal_request_id FROM jobs")
    assert job["fal_request_id"] == record.request_id
    cards = [m for m in slack.messages("C0GENERAL") if m.get("thread_ts", m["ts"]) == m["ts"]]
    assert len(cards) == 1 and len([u for u in slack.uploads if u.completed]) == 1
    charges = query(db, "SELECT status, amount_micros FROM charges")
    assert [tuple(c) for c in charges] == [("settled", 42_100)]
    assert "an earlier submit reached fal: adopted" in proc.log()

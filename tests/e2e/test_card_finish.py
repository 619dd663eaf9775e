"""The finished card at once: when the images land in the thread, the card already says done
and offers its buttons, however recently it was edited and however busy the workspace's edit
budget; only progress edits are held back. Times are the Slack stand-in's own records of when
each call arrived."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.slack.views.card import ACTION_REGENERATE
from bot.store import Job, JobState
from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.harness import RunningBot, bot_env, running_bot
from bot.testing.slack.models import Call
from bot.testing.slack.standin import SlackStandIn

# Progress edits a minute for the whole workspace in these tests; the bucket holds 10 more.
PER_MINUTE = 12
BURST = 10


def _is_final(call: Call) -> bool:
    return ACTION_REGENERATE in json.dumps(call.args.get("blocks"))


def _seconds_to_final_card(slack: SlackStandIn, job: Job) -> float:
    """From the call that shared the job's images into its thread to the card edit that
    shows it done with its buttons."""
    (upload,) = [
        call for call in slack.calls_to("files.completeUploadExternal")
        if call.args.get("thread_ts") == job.card_ts and call.ok
    ]  # fmt: skip
    final = next(
        call for call in slack.calls_to("chat.update")
        if call.args.get("ts") == job.card_ts and _is_final(call)
    )  # fmt: skip
    return final.time - upload.time


@pytest.fixture
async def bot(
    request: pytest.FixtureRequest, slack: SlackStandIn, fal: FalStandIn, tmp_path: Path
) -> AsyncIterator[RunningBot]:
    """A bot whose cards are edited at most every `interval` seconds (the test's parameter)."""
    env = bot_env(
        slack, tmp_path, FAL_KEY=fal.key,
        IMAGEBOT_PROGRESS_INTERVAL_SECONDS=str(request.param),
        IMAGEBOT_CARD_UPDATES_PER_MINUTE=str(PER_MINUTE),
        IMAGEBOT_MAX_JOBS_PER_USER="4",
    )  # fmt: skip
    async with running_bot(slack, env) as running:
        yield running


@pytest.mark.parametrize("bot", [2.5], indirect=True)
async def test_the_card_is_done_with_its_buttons_within_a_second_of_the_upload(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    # Long enough at fal for progress edits to come, each at most every 2.5 s.
    fal.default = FalBehaviour(queue_seconds=0.5, run_seconds=2.0)

    job = await bot.delivered("a harbour at night")

    assert _seconds_to_final_card(slack, job) < 1.0
    card = next(m for m in slack.messages("C0GENERAL") if m["ts"] == job.card_ts)
    assert "Done in" in json.dumps(card) and ACTION_REGENERATE in json.dumps(card)
    progress = [c.time for c in slack.calls_to("chat.update") if not _is_final(c)]
    assert all(b - a >= 2.4 for a, b in itertools.pairwise(progress)), progress


@pytest.mark.parametrize("bot", [0.2], indirect=True)
async def test_progress_stays_within_the_edit_budget_while_finished_cards_go_at_once(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    # Four jobs at once want far more progress edits than the budget allows.
    fal.default = FalBehaviour(queue_seconds=1.0, queue_position=3, run_seconds=2.5)
    for number in range(4):
        await bot.driver.command("/image", f"lighthouse number {number}")
    jobs = await bot.finished(4, timeout=60)

    assert all(job.state == JobState.DELIVERED for job in jobs)
    for job in jobs:
        assert _seconds_to_final_card(slack, job) < 1.0
    progress = slack.most_in_a_minute("chat.update", lambda call: not _is_final(call))
    assert 0 < progress <= PER_MINUTE + BURST

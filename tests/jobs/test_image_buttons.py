"""The buttons under a result are posted once, below its images: a process that stopped after
posting them (before it marked the card done) does not post them again when it resumes, and
one that stopped after deciding to post but before Slack had them posts them then."""

from __future__ import annotations

from pathlib import Path

from bot.jobs.delivery import ACTIONS_PART
from bot.slack.views.image_actions import ACTION_IMAGE_UPSCALE
from tests.doubles import assembled
from tests.factories import admitted, new_job


async def test_the_buttons_under_a_result_are_posted_once_across_a_restart(
    tmp_path: Path,
) -> None:
    async with assembled(tmp_path) as parts:
        job = await admitted(parts.store, new_job("U0ALICE", 80_000, channel="C0GENERAL", n=2))
        parts.runner.launch(job.id)
        (done,) = await parts.finished()
        (posted,) = parts.slack.of(ACTIONS_PART)
        assert posted.thread_ts == done.card_ts and f"{ACTION_IMAGE_UPSCALE}:2" in str(
            posted.blocks
        )

        # Resumed after the post landed: Slack has it, so nothing is posted again.
        await parts.runner.delivery.offer_actions(done)
        assert len(parts.slack.of(ACTIONS_PART)) == 1

        # Resumed after a post that never reached Slack: it is posted now.
        parts.slack.said.remove(posted)
        parts.slack.parts.clear()
        await parts.runner.delivery.offer_actions(done)
        assert len(parts.slack.of(ACTIONS_PART)) == 1

"""Slack delivers an event again (a retry after a slow answer): the bot drops it by its event id
before doing any work, not only when a second job would be admitted."""

from __future__ import annotations

from pathlib import Path

from bot.testing.fal.standin import FalStandIn
from bot.testing.harness import bot_env, running_bot
from bot.testing.images import make_png
from bot.testing.slack.standin import SlackStandIn


async def test_a_retried_event_is_dropped_before_the_files_are_fetched_again(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path
) -> None:
    dm = slack.add_channel("D0ALICE", "", is_im=True, user="U0ALICE")
    shared = slack.host_file(
        make_png("harbour", 256, 256), name="harbour.png", mimetype="image/png"
    )
    message = slack.add_message(dm.id, "paint it at night", files=[shared])
    async with running_bot(slack, bot_env(slack, tmp_path, FAL_KEY=fal.key)) as bot:
        event = bot.driver.message_event(message, channel=dm.id, channel_type="im")
        await bot.driver.event(event, event_id="Ev0RETRIED")
        await bot.finished()
        fetched = len(slack.downloads)
        for retry in (1, 2):
            reply = await bot.driver.event(event, event_id="Ev0RETRIED", retry_num=retry)
            assert reply.status == 200
        await bot.idle()

    assert len(slack.downloads) == fetched  # the retries fetched nothing from Slack again
    assert len(fal.requests) == 1

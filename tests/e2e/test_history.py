"""Looking back: Details (the card's button and `/image details <link>`) shows the person who
asked exactly what reached fal and what it cost, and nobody else anything; `/image history`
lists only the caller's requests, by words, each with its thread link; App Home shows the
caller's own latest images."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.domain.usd import format_usd
from bot.slack.views.card import ACTION_DETAILS
from bot.store import Job
from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.harness import RunningBot, bot_env, running_bot
from bot.testing.slack.standin import SlackStandIn
from tests.e2e.test_choices import billed


@pytest.fixture
async def bot(slack: SlackStandIn, fal: FalStandIn, tmp_path: Path) -> AsyncIterator[RunningBot]:
    fal.default = FalBehaviour(run_seconds=0.2, billable_units=Decimal("0.0421"))
    async with running_bot(slack, bot_env(slack, tmp_path, FAL_KEY=fal.key)) as running:
        yield running


async def make(bot: RunningBot, text: str, user: str = "U0ALICE", count: int = 1) -> Job:
    await bot.driver.command("/image", text, user=user)
    jobs = await bot.finished(count)
    return jobs[-1]


async def answer_to(bot: RunningBot, slack: SlackStandIn, act: Any) -> dict[str, Any]:
    """What the bot answered privately to one command or button (through its response_url)."""
    before = len(slack.responses)
    await act
    await bot.idle()
    assert len(slack.responses) == before + 1
    body = slack.responses[-1].body
    assert body is not None
    return body


def link_of(slack: SlackStandIn, job: Job) -> str:
    return f"https://{slack.team_id.lower()}.slack.com/archives/{job.channel_id}/p" + (
        (job.thread_ts or "").replace(".", "")
    )


async def test_details_show_exactly_what_fal_received_and_its_billed_cost(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    job = await make(bot, "a brass lamp on a desk --quality low --n 2 --ar 16:9")
    (record,) = fal.requests

    shown = await answer_to(
        bot, slack, bot.driver.press(ACTION_DETAILS, job.id, message_ts=job.card_ts or "")
    )

    text = shown["text"]
    assert record.arguments and record.request_id in text
    for key, value in record.arguments.items():
        assert f"• `{key}`: `{json.dumps(value, ensure_ascii=False)}`" in text
    assert f"endpoint `{record.endpoint_id}`" in text and "GPT Image 2" in text
    assert job.amount_micros == billed(record)  # fal's billed units x its unit price
    assert f"*Cost:* {format_usd(job.amount_micros)} · {record.units} billed units" in text
    assert "*Queued:*" in text and "*Generating:*" in text


async def test_details_of_someone_elses_request_show_nothing_of_it(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    job = await make(bot, "a secret birthday card for Bob")
    (record,) = fal.requests

    pressed = await answer_to(
        bot,
        slack,
        bot.driver.press(ACTION_DETAILS, job.id, message_ts=job.card_ts or "", user="U0BOB"),
    )
    asked = await answer_to(
        bot, slack, bot.driver.command("/image", f"details {link_of(slack, job)}", user="U0BOB")
    )

    for body in (pressed, asked):
        seen = json.dumps(body)
        assert "Only the person who asked can see the details" in body["text"]
        assert "birthday" not in seen and record.request_id not in seen and job.id not in seen


async def test_details_by_link_for_the_person_who_asked(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    job = await make(bot, "a red kite over the dunes")

    shown = await answer_to(
        bot, slack, bot.driver.command("/image", f"details <{link_of(slack, job)}>")
    )

    assert fal.requests[0].request_id in shown["text"] and "red kite" in shown["text"]


async def test_history_lists_only_the_callers_requests_by_words_with_thread_links(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    lamp = await make(bot, "a red lamp")
    chair = await make(bot, "a blue chair", count=2)
    boat = await make(bot, "a red boat", user="U0BOB", count=3)

    everything = (await answer_to(bot, slack, bot.driver.command("/image", "history")))["text"]
    red = (await answer_to(bot, slack, bot.driver.command("/image", "history RED")))["text"]

    assert "a red boat" not in everything and link_of(slack, boat) not in everything
    assert everything.index("a blue chair") < everything.index("a red lamp")  # newest first
    for job in (lamp, chair):
        assert f"<{link_of(slack, job)}|thread>" in everything
        assert format_usd(job.amount_micros) in everything and "GPT Image 2" in everything
    assert "a red lamp" in red and "a blue chair" not in red and "a red boat" not in red


async def test_app_home_shows_the_callers_own_latest_images_linked_to_their_threads(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    mine = await make(bot, "a green teapot")
    theirs = await make(bot, "a yellow umbrella", user="U0BOB", count=2)

    await bot.driver.event({"type": "app_home_opened", "user": "U0ALICE", "tab": "home"})
    await bot.idle()
    (home,) = [v for v in slack.views if v.method == "views.publish"]

    images = [b["slack_file"]["id"] for b in home.view["blocks"] if b["type"] == "image"]
    assert images == [mine.slack_file_ids[0]]
    assert theirs.slack_file_ids[0] not in json.dumps(home.view)
    assert f"<{link_of(slack, mine)}|thread>" in json.dumps(home.view)


async def test_app_home_goes_without_thumbnails_slack_would_not_show(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    slack.add_channel("G0SECRET", "secret", is_private=True)  # nobody listed can see its files
    await bot.driver.command("/image", "a floor plan", channel="G0SECRET")
    (job,) = await bot.finished(1)
    assert job.slack_file_ids

    await bot.driver.event({"type": "app_home_opened", "user": "U0ALICE", "tab": "home"})
    await bot.idle()

    (home,) = [v for v in slack.views if v.method == "views.publish"]
    assert [b for b in home.view["blocks"] if b["type"] == "image"] == []
    assert "the default is GPT Image 2" in json.dumps(home.view)

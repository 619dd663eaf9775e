"""/image end to end: signed requests into Bolt's HTTP server, the real fal-client and slack-sdk
clients talking to the stand-ins, and what a person would see in Slack."""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from bot.domain.usd import to_micros
from bot.store import JobState
from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.harness import RunningBot, bot_env, running_bot
from bot.testing.slack.blocks import counted
from bot.testing.slack.standin import SlackStandIn


@pytest.fixture
async def bot(slack: SlackStandIn, fal: FalStandIn, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with running_bot(slack, bot_env(slack, tmp_path, FAL_KEY=fal.key)) as running:
        yield running


def card_text(message: dict[str, object]) -> str:
    blocks = message.get("blocks") or []
    assert isinstance(blocks, list)
    parts = []
    for block in blocks:
        text = block.get("text") if isinstance(block, dict) else None
        if isinstance(text, dict):
            parts.append(str(text.get("text", "")))
        for element in block.get("elements", []) if isinstance(block, dict) else []:
            if isinstance(element, dict) and "text" in element:
                value = element["text"]
                parts.append(str(value.get("text") if isinstance(value, dict) else value))
    return "\n".join(parts)


async def test_image_is_acked_fast_and_lands_in_the_cards_thread(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    fal.default = FalBehaviour(queue_seconds=0.6, queue_position=2, run_seconds=1.5)

    reply = await bot.driver.command(
        "/image", "a lighthouse at dawn, oil painting --quality low --ar 16:9"
    )

    assert reply.status == 200
    assert reply.seconds < 3.0
    assert slack.uploads == []  # answered while the image was still being made
    upload = await slack.wait_for(lambda: next((u for u in slack.uploads if u.completed), None))
    cards = [m for m in slack.messages("C0GENERAL") if m.get("thread_ts") in (None, m["ts"])]
    assert len(cards) == 1
    card = cards[0]
    assert "U0ALICE" in card_text(card) and "a lighthouse at dawn" in card_text(card)
    assert upload.channel_id == "C0GENERAL" and upload.thread_ts == card["ts"]
    record = fal.requests[0]
    assert upload.bytes == record.media[record.image_urls[0]]
    # Slack shares a completed upload into the thread a moment later.
    in_thread = await slack.wait_for(
        lambda: [m for m in slack.thread("C0GENERAL", card["ts"]) if m.get("files")]
    )
    assert [f["id"] for f in in_thread[0]["files"]] == [upload.file_id]


async def test_fal_gets_the_prompt_without_options_and_the_cost_is_the_billed_units(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    fal.default = FalBehaviour(run_seconds=0.2, billable_units=Decimal("0.0421"))

    await bot.driver.command("/image", "two owls --quality high --size 1024x1536 --n 2")

    job = await bot.job_when(lambda j: j.state == JobState.DELIVERED and j.card_done)
    (record,) = fal.requests
    assert record.endpoint_id == "openai/gpt-image-2"
    assert record.arguments["prompt"] == "two owls"
    assert record.arguments["quality"] == "high"
    assert record.arguments["image_size"] == {"width": 1024, "height": 1536}
    assert record.arguments["num_images"] == 2
    assert job.amount_micros == to_micros(Decimal("0.0421") * 1) == 42_100
    assert job.charge_status == "settled" and not job.charge_estimated
    uploads = await slack.wait_for(lambda: [u for u in slack.uploads if u.completed] or None)
    assert sorted(u.bytes for u in uploads) == sorted(
        record.media[url] for url in record.image_urls
    )
    final = await slack.wait_for(lambda: _card_says(slack, "$0.0421"))
    assert "Done in" in final


async def test_card_shows_progress_and_ends_with_time_and_cost(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    fal.default = FalBehaviour(queue_seconds=0.8, queue_position=4, run_seconds=1.2)
    slack.stall("files.completeUploadExternal", 0.8)  # an upload slow enough to be seen

    await bot.driver.command("/image", "a quiet harbour")

    await slack.wait_for(lambda: _card_says(slack, "Done in"))
    updates = [c.args["blocks"] for c in slack.calls_to("chat.update")]
    seen = "\n".join(str(blocks) for blocks in updates)
    assert re.search(r"Queued at fal \(position [1-5]\)", seen)
    assert re.search(r"Generating… \d+ s", seen)
    assert "Uploading" in seen
    times = [c.time for c in slack.calls_to("chat.update")]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= 0.15 for gap in gaps), gaps  # the test bot edits at most every 0.2 s


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a cat --quality ultra", "ultra"),
        ("a cat --n 9", "9"),
        ("a cat --size 5000x100", "3840"),
        ("a cat --ar 10:1", "3:1"),
        ("a cat --format bmp", "bmp"),
        ("--quality low", "description"),
        ("x" * 32_001, "32,000"),
    ],
)
async def test_bad_options_get_a_message_and_reach_nothing(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn, text: str, expected: str
) -> None:
    reply = await bot.driver.command("/image", text)

    assert reply.status == 200
    assert expected in reply.json()["text"]
    assert reply.json()["response_type"] == "ephemeral"
    assert fal.requests == []
    assert await bot.store.unfinished_jobs() == []
    assert slack.calls_to("chat.postMessage") == []


@pytest.mark.parametrize("text", ["", "help", "  HELP "])
async def test_help_is_ephemeral_with_options_and_examples(bot: RunningBot, text: str) -> None:
    reply = await bot.driver.command("/image", text)

    body = reply.json()
    assert body["response_type"] == "ephemeral"
    for word in ("--quality", "--size", "--ar", "--n", "--format", "/image "):
        assert word in body["text"]


@pytest.mark.parametrize("problem", ["wrong", "stale", "missing"])
async def test_unsigned_or_badly_signed_requests_get_401_and_do_nothing(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn, problem: str
) -> None:
    body = bot.driver.command_body("/image", "a cat")
    headers = {
        "wrong": bot.driver.sign(body) | {"X-Slack-Signature": "v0=" + "0" * 64},
        "stale": bot.driver.sign(body, timestamp=int(time.time()) - 600),
        "missing": {},
    }[problem]

    reply = await bot.driver.post(body, "application/x-www-form-urlencoded", headers)

    assert reply.status == 401
    assert fal.requests == [] and slack.calls_to("chat.postMessage") == []
    assert await bot.store.unfinished_jobs() == []


async def test_joins_a_public_channel_it_is_not_in(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    slack.add_channel("C0RANDOM", "random", bot_is_member=False)

    await bot.driver.command("/image", "a red kite", channel="C0RANDOM")

    await slack.wait_for(lambda: [u for u in slack.uploads if u.completed] or None)
    assert [c.args["channel"] for c in slack.calls_to("conversations.join")] == ["C0RANDOM"]
    assert slack.uploads[0].channel_id == "C0RANDOM"


async def test_private_channel_gets_invite_instructions_and_no_charge(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    slack.add_channel("G0SECRET", "secret", is_private=True, bot_is_member=False)

    await bot.driver.command("/image", "a red kite", channel="G0SECRET")

    response = await slack.wait_for(lambda: slack.responses[-1] if slack.responses else None)
    assert "/invite" in response.body["text"]
    assert fal.requests == []
    job = await bot.job_when(lambda j: j.state == JobState.FAILED and j.card_done)
    assert job.charge_status == "released" and job.amount_micros == 0


def _card_says(slack: SlackStandIn, words: str) -> str | None:
    for message in slack.messages("C0GENERAL"):
        text = card_text(message)
        if words in text:
            return text
    return None


async def test_a_prompt_of_250_lines_of_markup_gets_a_valid_card_and_its_image(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    # Slack sends command text escaped; the bot unescapes it, escapes it again for the card
    # and quotes every line: about 4,500 characters as Slack counts them, cut to fit.
    await bot.driver.command("/image", "&lt;&amp;&gt;\n" * 250)

    job = await bot.job_when(lambda j: j.state == JobState.DELIVERED and j.card_done)
    assert job.prompt.startswith("<&>\n<&>")
    # The card, then the buttons under the image: Slack took both at the first try.
    assert [c.ok for c in slack.calls_to("chat.postMessage")] == [True, True]
    card = next(m for m in slack.messages("C0GENERAL") if m["ts"] == job.card_ts)
    section = card["blocks"][0]["text"]["text"]
    assert section.startswith(
        "*<@U0ALICE> asked for an image*\n>&lt;&amp;&gt;\n>"
    ) and section.endswith("…")
    assert counted(section, "mrkdwn") <= 3000
    assert "Done in" in card_text(card)
    assert [u.bytes for u in slack.uploads if u.completed] == [
        fal.requests[0].media[fal.requests[0].image_urls[0]]
    ]


async def test_a_prompt_with_special_mentions_pings_nobody(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    await bot.driver.command(
        "/image",
        "a poster for &lt;!channel&gt; and &lt;!here&gt; by &lt;@U0BOB&gt; &lt;https://x|y&gt;",
    )

    await bot.job_when(lambda j: j.state == JobState.DELIVERED and j.card_done)
    assert (
        fal.requests[0].arguments["prompt"]
        == "a poster for <!channel> and <!here> by <@U0BOB> <https://x|y>"
    )
    for call in slack.calls_to("chat.postMessage") + slack.calls_to("chat.update"):
        sent = call.args["text"] + json.dumps(call.args["blocks"])
        for live in ("<!channel>", "<!here>", "<@U0BOB>", "<https://x|y>"):
            assert live not in sent
        if "thread_ts" not in call.args:  # the card (the buttons in the thread quote nothing)
            assert "&lt;!channel&gt;" in sent


async def test_a_card_slack_refuses_is_explained_as_the_bots_fault_and_costs_nothing(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    slack.fail("chat.postMessage", "invalid_blocks")

    await bot.driver.command("/image", "a red kite")

    job = await bot.job_when(lambda j: j.state == JobState.FAILED and j.card_done)
    assert job.charge_status == "released" and job.amount_micros == 0 and fal.requests == []
    told = slack.responses[-1].body["text"]
    assert "invalid_blocks" in told and "fault on my side" in told and "Nothing was charged" in told
    assert "/invite" not in told

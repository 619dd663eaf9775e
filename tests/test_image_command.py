"""/image end to end: signed requests into Bolt's HTTP server, the real fal-client and slack-sdk
clients talking to the stand-ins, and what a person would see in Slack."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from bot.pricing import to_micros
from bot.store import Job, JobState
from bot.testing.fal_standin import FalBehaviour, FalStandIn
from bot.testing.harness import RunningBot, bot_env, running_bot
from bot.testing.slack_standin import SlackStandIn


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
    in_thread = [m for m in slack.thread("C0GENERAL", card["ts"]) if m.get("files")]
    assert [f["id"] for f in in_thread[0]["files"]] == [upload.file_id]


async def test_fal_gets_the_prompt_without_options_and_the_cost_is_the_billed_units(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    fal.default = FalBehaviour(run_seconds=0.2, billable_units=Decimal("0.0421"))

    await bot.driver.command("/image", "two owls --quality high --size 1024x1536 --n 2")

    job = await wait_for_state(bot, JobState.DELIVERED)
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
    job = await wait_for_state(bot, JobState.FAILED)
    assert job.charge_status == "released" and job.amount_micros == 0


async def wait_for_state(bot: RunningBot, state: JobState, timeout: float = 20.0) -> Job:
    """The first job, once it reaches `state` (and its card is final)."""
    async with asyncio.timeout(timeout):
        while True:
            jobs = await bot.store.jobs()
            if jobs and jobs[-1].state == state and jobs[-1].card_done:
                return jobs[-1]
            await asyncio.sleep(0.05)


def _card_says(slack: SlackStandIn, words: str) -> str | None:
    for message in slack.messages("C0GENERAL"):
        text = card_text(message)
        if words in text:
            return text
    return None

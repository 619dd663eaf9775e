"""The buttons under each image of a result: Edit, More like this and Upscale act on that image,
are charged to whoever presses, and land in the same thread; a double press runs once; a press
past the presser's budget runs nothing and says why."""

from __future__ import annotations

import json
from typing import Any

from bot.domain.usd import to_micros
from bot.slack.views.image_actions import ACTION_IMAGE_EDIT, ACTION_IMAGE_MORE, ACTION_IMAGE_UPSCALE
from bot.slack.views.modal import EDIT_INSTRUCTION_BLOCK
from bot.store import Job, JobState
from bot.testing.fal.models import FalRecord
from bot.testing.fal.standin import FalStandIn
from bot.testing.harness import RunningBot
from bot.testing.slack.standin import SlackStandIn
from tests.factories import CATALOG

BOB = "U0BOB"
CHANNEL = "C0GENERAL"


async def four_images(bot: RunningBot, slack: SlackStandIn) -> tuple[Job, dict[str, Any]]:
    """Alice's 4-image result, and the message of buttons under its images."""
    job = await bot.delivered("four owls on a branch --n 4 --quality low")
    assert len(job.images) == 4
    return job, buttons_under(slack, job)


def billed(record: FalRecord) -> int:
    """What fal billed for a request, in micro-dollars: its units at its endpoint's price."""
    assert record.units is not None
    return to_micros(record.units * CATALOG.unit_price(record.endpoint_id))


def buttons_under(slack: SlackStandIn, job: Job) -> dict[str, Any]:
    assert job.thread_ts is not None
    (message,) = [
        m for m in slack.thread(CHANNEL, job.thread_ts)
        if any(b["type"] == "actions" for b in m.get("blocks") or [])
        and m.get("metadata", {}).get("event_payload", {}).get("job_id") == job.id
        and m["ts"] != job.card_ts
    ]  # fmt: skip
    return message


def button(message: dict[str, Any], action_id: str) -> dict[str, Any]:
    return next(
        element
        for block in message["blocks"] if block["type"] == "actions"
        for element in block["elements"] if element["action_id"] == action_id
    )  # fmt: skip


async def press(bot: RunningBot, message: dict[str, Any], action: str, index: int) -> None:
    pressed = button(message, f"{action}:{index}")
    reply = await bot.driver.press(
        pressed["action_id"], pressed["value"], message_ts=message["ts"], user=BOB
    )
    assert reply.status == 200


async def test_more_like_this_on_image_3_sends_image_3_and_charges_the_presser(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    first, message = await four_images(bot, slack)
    image_3 = fal.requests[0].image_urls[2]

    await press(bot, message, ACTION_IMAGE_MORE, 3)
    _, more = await bot.finished(2)

    record = fal.requests[1]
    assert record.endpoint_id == "openai/gpt-image-2/edit"
    assert record.arguments["image_urls"] == [image_3]
    assert record.arguments["prompt"] == first.prompt
    assert more.state == JobState.DELIVERED and more.user_id == BOB and more.kind == "edit"
    assert more.charge_status == "settled" and more.amount_micros == billed(record)
    assert more.thread_ts == first.thread_ts
    card = next(m for m in slack.thread(CHANNEL, first.thread_ts or "") if m["ts"] == more.card_ts)
    assert f"<@{BOB}> asked for an edit of image 3" in json.dumps(card)


async def test_upscale_on_image_3_runs_the_upscaler_on_image_3_at_its_own_price(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    first, message = await four_images(bot, slack)
    image_3 = fal.requests[0].image_urls[2]
    label = button(message, f"{ACTION_IMAGE_UPSCALE}:3")["text"]["text"]
    assert label.startswith("Upscale #3 · ~$0.00")

    await press(bot, message, ACTION_IMAGE_UPSCALE, 3)
    await press(bot, message, ACTION_IMAGE_UPSCALE, 3)  # a double click
    jobs = await bot.finished(2)

    assert len(jobs) == 2 and len(fal.requests) == 2
    record, upscaled = fal.requests[1], jobs[1]
    assert record.endpoint_id == "fal-ai/seedvr/upscale/image"
    assert record.arguments["image_url"] == image_3
    assert upscaled.user_id == BOB and upscaled.kind == "upscale"
    assert upscaled.thread_ts == first.thread_ts and upscaled.state == JobState.DELIVERED
    assert upscaled.charge_status == "settled" and upscaled.amount_micros == billed(record)


async def test_edit_on_image_3_opens_the_dialog_on_image_3_for_the_presser(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    first, message = await four_images(bot, slack)
    image_3 = fal.requests[0].image_urls[2]

    await press(bot, message, ACTION_IMAGE_EDIT, 3)
    (opened,) = await slack.wait_for(lambda: slack.views)
    assert "image 3 of 4" in json.dumps(opened.view)
    await bot.driver.submit_view(
        opened.view, {EDIT_INSTRUCTION_BLOCK: "make the owls blue"}, user=BOB
    )
    _, edit = await bot.finished(2)

    record = fal.requests[1]
    assert record.endpoint_id == "openai/gpt-image-2/edit"
    assert record.arguments["image_urls"] == [image_3]
    assert record.arguments["prompt"] == "make the owls blue"
    assert edit.user_id == BOB and edit.thread_ts == first.thread_ts


async def test_a_press_past_the_pressers_budget_runs_nothing_and_says_so(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    _, message = await four_images(bot, slack)
    await bot.store.set_budget("user", BOB, 1, by="U0ADMIN")

    await press(bot, message, ACTION_IMAGE_MORE, 2)
    told = await slack.wait_for(lambda: [r for r in slack.responses if r.body])

    assert "would go over your monthly budget" in json.dumps(told[-1].body)
    await bot.idle()
    assert len(fal.requests) == 1 and len(await bot.store.jobs()) == 1

"""Edits: thread replies, mentions with images, DMs, the shortcut and its dialog, the buttons."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from bot.slack.views.card import ACTION_CANCEL, ACTION_EDIT, ACTION_HIGH_QUALITY, ACTION_REGENERATE
from bot.store import JobState
from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.harness import RunningBot, bot_env, running_bot
from bot.testing.images import make_png
from bot.testing.slack.standin import SlackStandIn
from handlers.actions import EDIT_SHORTCUT

EDIT = "openai/gpt-image-2/edit"


@pytest.fixture
async def bot(slack: SlackStandIn, fal: FalStandIn, tmp_path: Path) -> AsyncIterator[RunningBot]:
    fal.default = FalBehaviour(run_seconds=0.2, billable_units=Decimal("0.0421"))
    env = bot_env(slack, tmp_path, FAL_KEY=fal.key, IMAGEBOT_MAX_INPUT_IMAGE_MB="1")
    async with running_bot(slack, env) as running:
        yield running


def through_the_cdn(slack: SlackStandIn) -> None:
    """Every file came through Slack's redirect to its CDN, the token sent on both hops."""
    hops = [(d.hop, d.granted) for d in slack.downloads]
    assert hops and sorted(hops) == sorted([("file", True), ("cdn", True)] * (len(hops) // 2))


async def test_reply_in_a_bot_thread_edits_the_latest_image_and_charges_the_replier(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    first = await bot.delivered()
    assert first.thread_ts is not None

    await bot.driver.say("make the sky navy", user="U0BOB", thread_ts=first.thread_ts)

    jobs = await bot.finished(2)
    edit = jobs[1]
    record = fal.submits_for(EDIT)[0]
    assert record.arguments["prompt"] == "make the sky navy"
    assert record.arguments["image_urls"][0] == first.images[0].url
    assert edit.state == JobState.DELIVERED and edit.user_id == "U0BOB"
    assert edit.amount_micros == 42_100 and edit.charge_status == "settled"
    upload = [u for u in slack.uploads if u.completed][-1]
    assert upload.thread_ts == first.thread_ts
    assert upload.bytes == record.media[record.image_urls[0]]


async def test_pick_another_image_with_hash(bot: RunningBot, fal: FalStandIn) -> None:
    await bot.driver.command("/image", "two cats --n 2")
    (first,) = await bot.finished(1)

    await bot.driver.say("make them blue #2", thread_ts=first.thread_ts)

    await bot.finished(2)
    record = fal.submits_for(EDIT)[0]
    assert record.arguments["prompt"] == "make them blue"
    assert record.arguments["image_urls"] == [first.images[1].url]


async def test_expired_fal_media_falls_back_to_the_slack_copy(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    first = await bot.delivered()
    fal.expire_media(fal.requests[0].request_id)
    slack_copy = slack.uploads[0].bytes

    await bot.driver.say("add a moon", thread_ts=first.thread_ts)

    jobs = await bot.finished(2)
    assert jobs[1].state == JobState.DELIVERED
    sent = fal.submits_for(EDIT)[0].arguments["image_urls"][0]
    assert sent.startswith("data:image/png;base64,")
    assert base64.b64decode(sent.partition(",")[2]) == slack_copy


async def test_mention_with_an_image_edits_it_once(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    photo = make_png("holiday photo", 512, 384)
    shared = slack.host_file(photo, name="holiday.png", mimetype="image/png")

    await bot.driver.say(
        f"<@{slack.bot_user_id}> turn this into a watercolour", files=[shared], also_mention=True
    )

    await bot.idle()
    (job,) = await bot.finished(1)
    assert job.kind == "edit" and job.state == JobState.DELIVERED
    (record,) = fal.requests
    assert record.arguments["prompt"] == "turn this into a watercolour"
    (sent,) = record.arguments["image_urls"]
    assert base64.b64decode(sent.partition(",")[2]) == photo
    assert "mask_url" not in record.arguments
    through_the_cdn(slack)


async def test_files_served_without_a_redirect_work_too(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    slack.redirect_files = False
    photo = make_png("direct", 320, 240)
    shared = slack.host_file(photo, name="direct.png", mimetype="image/png")

    await bot.driver.say(f"<@{slack.bot_user_id}> add a hat", files=[shared])

    (job,) = await bot.finished(1)
    assert job.state == JobState.DELIVERED
    (sent,) = fal.requests[0].arguments["image_urls"]
    assert base64.b64decode(sent.partition(",")[2]) == photo
    assert {d.hop for d in slack.downloads} == {"file"}


async def test_several_images_go_as_references_and_mask_named_file_as_mask(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    files = [
        slack.host_file(make_png("a", 256, 256), name="a.png", mimetype="image/png"),
        slack.host_file(make_png("b", 256, 256), name="b.png", mimetype="image/png"),
        slack.host_file(make_png("m", 256, 256), name="mask.png", mimetype="image/png"),
    ]

    await bot.driver.say(f"<@{slack.bot_user_id}> combine these", files=files)

    await bot.finished(1)
    (record,) = fal.requests
    assert len(record.arguments["image_urls"]) == 2
    decoded = base64.b64decode(record.arguments["mask_url"].partition(",")[2])
    assert decoded == make_png("m", 256, 256)
    through_the_cdn(slack)


@pytest.mark.parametrize(
    ("name", "mimetype", "data", "says"),
    [
        ("notes.txt", "text/plain", b"just some notes\n", "isn't an image"),
        ("fake.png", "image/png", b"this is not a png at all", "isn't an image"),
        ("huge.png", "image/png", make_png("huge", 64, 64, min_bytes=1_200_000), "1 MB"),
    ],
)
async def test_bad_files_get_a_clear_message_and_reach_nothing(
    bot: RunningBot,
    slack: SlackStandIn,
    fal: FalStandIn,
    name: str,
    mimetype: str,
    data: bytes,
    says: str,
) -> None:
    shared = slack.host_file(data, name=name, mimetype=mimetype)

    await bot.driver.say(f"<@{slack.bot_user_id}> edit this", files=[shared])

    told = await slack.wait_for(lambda: slack.ephemerals or None)
    assert says in told[0]["text"]
    assert fal.requests == [] and await bot.store.jobs() == []


async def test_images_without_text_get_a_question(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    shared = slack.host_file(make_png("x", 64, 64), name="x.png", mimetype="image/png")

    await bot.driver.say(f"<@{slack.bot_user_id}>", files=[shared], also_mention=True)

    await bot.idle()
    (told,) = slack.ephemerals
    assert "What should I change" in told["text"]
    assert fal.requests == []


async def test_dm_text_generates_and_text_with_image_edits(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    dm = slack.add_channel("D0ALICE", "", is_im=True, user="U0ALICE")
    await bot.driver.say("a paper boat", channel=dm.id, channel_type="im")
    shared = slack.host_file(make_png("boat", 256, 256), name="boat.png", mimetype="image/png")
    await bot.driver.say("make it red", channel=dm.id, channel_type="im", files=[shared])

    jobs = await bot.finished(2)
    assert [j.kind for j in jobs] == ["generate", "edit"]
    assert [r.endpoint_id for r in fal.requests] == ["openai/gpt-image-2", EDIT]
    dm_uploads = [u for u in slack.uploads if u.completed and u.channel_id == dm.id]
    assert len(dm_uploads) == 2
    through_the_cdn(slack)


@pytest.mark.parametrize(
    "case", ["own bot", "other bot", "changed", "deleted", "foreign thread", "empty", "top level"]
)
async def test_messages_not_for_the_bot_are_left_alone(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn, case: str
) -> None:
    first = await bot.delivered()
    other = slack.add_message("C0GENERAL", "a person's own thread")
    base = {"type": "message", "channel": "C0GENERAL", "channel_type": "channel", "ts": "1.000100"}
    reply_to_bot = base | {"thread_ts": first.thread_ts}
    event = {
        "own bot": reply_to_bot | {"user": slack.bot_user_id, "bot_id": slack.bot_id, "text": "hi"},
        "other bot": reply_to_bot | {"bot_id": "B0OTHER", "subtype": "bot_message", "text": "red"},
        "changed": reply_to_bot | {"subtype": "message_changed", "message": {"text": "red"}},
        "deleted": reply_to_bot | {"subtype": "message_deleted"},
        "foreign thread": base | {"user": "U0BOB", "text": "make it red", "thread_ts": other["ts"]},
        "empty": reply_to_bot | {"user": "U0BOB", "text": ""},
        "top level": base | {"user": "U0BOB", "text": "make it red"},
    }[case]

    reply = await bot.driver.event(event)
    await bot.idle()

    assert reply.status == 200
    assert len(fal.requests) == 1  # only the first /image
    assert len(await bot.store.jobs()) == 1
    assert slack.ephemerals == []


async def test_same_event_delivered_twice_makes_one_job(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    first = await bot.delivered()
    message = slack.add_message("C0GENERAL", "make it snow", thread_ts=first.thread_ts)
    event = bot.driver.message_event(message)

    await bot.driver.event(event, event_id="Ev0SAME")
    await bot.driver.event(event, event_id="Ev0SAME", retry_num=1)

    await bot.finished(2)
    await bot.idle()
    assert len(fal.submits_for(EDIT)) == 1
    assert len(await bot.store.jobs()) == 2


async def test_shortcut_opens_the_dialog_and_its_edit_lands_in_that_thread(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    photo = make_png("kitchen", 320, 240)
    shared = slack.host_file(photo, name="kitchen.jpg", mimetype="image/jpeg")
    message = slack.add_message("C0GENERAL", "our new kitchen", user="U0BOB", files=[shared])

    _, trigger = await bot.driver.shortcut(EDIT_SHORTCUT, message)

    opened = await slack.wait_for(
        lambda: [v for v in slack.views if v.method == "views.open"] or None
    )
    assert opened[0].trigger_id == trigger
    await bot.driver.submit_view(
        opened[0].view | {"id": opened[0].view_id},
        {"instruction": "paint the walls green", "options": "--quality low"},
    )
    (job,) = await bot.finished(1)
    assert job.state == JobState.DELIVERED and job.thread_ts == message["ts"]
    (record,) = fal.requests
    assert record.arguments["prompt"] == "paint the walls green"
    assert record.arguments["quality"] == "low"
    assert base64.b64decode(record.arguments["image_urls"][0].partition(",")[2]) == photo
    assert [u.thread_ts for u in slack.uploads if u.completed] == [message["ts"]]
    through_the_cdn(slack)


async def test_dialog_with_bad_options_shows_the_error_in_place(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    first = await bot.delivered()
    await bot.driver.press(ACTION_EDIT, first.id, message_ts=first.card_ts or "")
    opened = await slack.wait_for(lambda: slack.views or None)

    reply = await bot.driver.submit_view(
        opened[0].view | {"id": opened[0].view_id},
        {"instruction": "brighter", "options": "--quality ultra"},
    )

    body = reply.json()
    assert body["response_action"] == "errors" and "ultra" in body["errors"]["options"]
    assert len(fal.requests) == 1


async def test_buttons_regenerate_high_quality_and_edit(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    first = await bot.delivered("a red kite --quality low")
    card = first.card_ts or ""

    await bot.driver.press(ACTION_REGENERATE, first.id, message_ts=card)
    await bot.finished(2)
    await bot.driver.press(ACTION_HIGH_QUALITY, first.id, message_ts=card)
    await bot.finished(3)
    await bot.driver.press(ACTION_EDIT, first.id, message_ts=card)
    opened = await slack.wait_for(lambda: slack.views or None)
    await bot.driver.submit_view(
        opened[0].view | {"id": opened[0].view_id}, {"instruction": "add a sunset"}
    )
    jobs = await bot.finished(4)

    prompts = [(r.endpoint_id, r.arguments["prompt"], r.arguments["quality"]) for r in fal.requests]
    assert prompts == [
        ("openai/gpt-image-2", "a red kite", "low"),
        ("openai/gpt-image-2", "a red kite", "low"),
        ("openai/gpt-image-2", "a red kite", "high"),
        (EDIT, "add a sunset", "medium"),
    ]
    assert all(j.thread_ts == first.thread_ts for j in jobs)
    assert json.loads(opened[0].view["private_metadata"]) == {"job": first.id}


async def test_cancel_while_queued_releases_the_hold(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    fal.default = FalBehaviour(queue_seconds=30, queue_position=5)
    await bot.driver.command("/image", "a slow one")
    job = await bot.job_when(lambda j: j.state == JobState.SUBMITTED and j.card_ts is not None)

    await bot.driver.press(ACTION_CANCEL, job.id, message_ts=job.card_ts or "")

    (done,) = await bot.finished(1)
    assert done.state == JobState.CANCELLED
    assert done.charge_status == "released" and done.amount_micros == 0
    assert fal.requests[0].cancelled
    card = next(m for m in slack.messages("C0GENERAL") if m["ts"] == job.card_ts)
    assert "Cancelled" in json.dumps(card["blocks"])


@pytest.mark.parametrize("forgery", ["someone else's job", "no such job", "another card"])
async def test_forged_button_values_are_refused_without_effect(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn, forgery: str
) -> None:
    first = await bot.delivered()
    other = slack.add_message("C0GENERAL", "unrelated")
    value, user, ts = {
        "someone else's job": (first.id, "U0BOB", first.card_ts or ""),
        "no such job": ("jdeadbeef0000", "U0ALICE", first.card_ts or ""),
        "another card": (first.id, "U0ALICE", other["ts"]),
    }[forgery]

    for action in (ACTION_REGENERATE, ACTION_HIGH_QUALITY, ACTION_CANCEL, ACTION_EDIT):
        await bot.driver.press(action, value, message_ts=ts, user=user)

    await bot.idle()
    assert len(slack.responses) == 4
    assert len(fal.requests) == 1 and len(await bot.store.jobs()) == 1
    assert slack.views == []


async def test_cancel_is_refused_once_fal_is_generating(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    fal.default = FalBehaviour(run_seconds=3.0, billable_units=Decimal("0.0421"))
    await bot.driver.command("/image", "a busy one")
    job = await bot.job_when(lambda j: j.started_at is not None and j.card_ts is not None)

    await bot.driver.press(ACTION_CANCEL, job.id, message_ts=job.card_ts or "")

    (done,) = await bot.finished(1)
    assert done.state == JobState.DELIVERED and done.amount_micros == 42_100
    assert "Too late to cancel" in slack.responses[-1].body["text"]
    assert not fal.requests[0].cancelled


async def test_a_cancelled_card_stays_cancelled(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    fal.default = FalBehaviour(queue_seconds=30, queue_position=5)
    await bot.driver.command("/image", "a slow one")
    job = await bot.job_when(lambda j: j.state == JobState.SUBMITTED and j.card_ts is not None)
    await bot.driver.press(ACTION_CANCEL, job.id, message_ts=job.card_ts or "")
    await bot.finished(1)

    # No progress edit is left to land on the final card.
    assert not [t for t in asyncio.all_tasks() if t.get_name() == f"card-{job.id}" and not t.done()]
    card = next(m for m in slack.messages("C0GENERAL") if m["ts"] == job.card_ts)
    assert "Cancelled" in json.dumps(card["blocks"]) and "imagebot_cancel" not in json.dumps(card)


async def test_an_edit_without_a_size_is_held_at_its_input_size(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    fal.default = FalBehaviour(queue_seconds=30)
    photo = make_png("4k", 3840, 2160)
    shared = slack.host_file(photo, name="wide.png", mimetype="image/png")

    await bot.driver.say(f"<@{slack.bot_user_id}> sharpen it --quality high", files=[shared])

    job = await bot.job_when(lambda j: j.state == JobState.SUBMITTED)
    assert job.estimate_micros == 410_000 + 10_000  # 3840x2160 at high, plus one input image

"""Slack's own payload shapes (tests/contract/payloads.py) go through the real bot: each is
parsed by the handlers into the request it stands for. And the driver the other tests use to
play Slack builds the same shapes: a test compares their keys."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from bot.slack.views.card import ACTION_REGENERATE
from bot.slack.views.modal import EDIT_MODAL
from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.harness import RunningBot, bot_env, running_bot
from bot.testing.images import make_png
from bot.testing.slack.standin import SlackStandIn
from handlers.actions import EDIT_SHORTCUT
from tests.contract import payloads

# Thumbnails and image sizes: a person's files carry them; the bot never reads them and the
# stand-in draws no thumbnails.
THUMBNAILS = ("thumb_", "original_")
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
async def bot(slack: SlackStandIn, fal: FalStandIn, tmp_path: Path) -> AsyncIterator[RunningBot]:
    fal.default = FalBehaviour(run_seconds=0.1, billable_units=Decimal("0.0421"))
    async with running_bot(slack, bot_env(slack, tmp_path, FAL_KEY=fal.key)) as running:
        yield running


async def send_event(bot: RunningBot, envelope: dict[str, Any], **headers: str) -> None:
    body = json.dumps(envelope)
    reply = await bot.driver.post(body, "application/json", bot.driver.sign(body) | headers)
    assert reply.status == 200


async def send_interaction(bot: RunningBot, payload: dict[str, Any]) -> None:
    reply = await bot.driver.post(urlencode({"payload": json.dumps(payload)}), FORM)
    assert reply.status == 200, reply.body


def shared_file(slack: SlackStandIn, name: str) -> dict[str, Any]:
    """Slack's file object for a PNG the stand-in holds."""
    hosted = slack.host_file(make_png(name, 256, 256), name=name, mimetype="image/png")
    return payloads.slack_file(
        file_id=hosted["id"], name=name, user="U0BOB", url_private=hosted["url_private"],
        url_private_download=hosted["url_private_download"],
    )  # fmt: skip


# --- each payload becomes the right request --------------------------------------------------


async def test_a_slash_command_form_becomes_an_image_request(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    form = payloads.slash_command(
        channel="C0GENERAL", user="U0ALICE", text="a lighthouse &amp; a boat --quality low",
        response_url=slack.response_url(), trigger_id=slack.trigger_id(ttl=None),
    )  # fmt: skip

    assert (await bot.driver.post(urlencode(form), FORM)).status == 200

    (job,) = await bot.finished(1)
    assert (job.kind, job.origin, job.user_id, job.channel_id) == (
        "generate", "command", "U0ALICE", "C0GENERAL",
    )  # fmt: skip
    assert job.prompt == "a lighthouse & a boat" and job.request.quality == "low"
    assert job.response_url == form["response_url"]
    assert fal.requests[0].arguments["prompt"] == "a lighthouse & a boat"


async def test_a_reply_with_a_file_in_a_cards_thread_edits_that_file(
    bot: RunningBot, slack: SlackStandIn
) -> None:
    first = await bot.delivered("a lighthouse --quality low")
    photo = shared_file(slack, "photo.png")
    stored = slack.add_message(
        "C0GENERAL", "make it night", user="U0BOB", thread_ts=first.thread_ts
    )
    event = payloads.file_share(
        channel="C0GENERAL", user="U0BOB", text="make it night", ts=stored["ts"], files=[photo],
        thread_ts=first.thread_ts or "",
    )  # fmt: skip

    await send_event(bot, payloads.envelope(event, event_id="Ev0SHARE", bot_user="U0BOT"))

    _, edit = await bot.finished(2)
    assert (edit.kind, edit.origin, edit.user_id, edit.thread_ts) == (
        "edit", "reply", "U0BOB", first.thread_ts,
    )  # fmt: skip
    assert edit.prompt == "make it night"
    assert [(i.slack_file_id, i.name) for i in edit.inputs] == [(photo["id"], "photo.png")]


async def test_an_app_mention_with_files_edits_them(bot: RunningBot, slack: SlackStandIn) -> None:
    photo, mask = shared_file(slack, "photo.png"), shared_file(slack, "mask.png")
    stored = slack.add_message("C0GENERAL", "<@U0BOT> paint the sky", user="U0BOB")
    event = payloads.app_mention(
        channel="C0GENERAL", user="U0BOB", text="<@U0BOT> paint the sky", ts=stored["ts"],
        files=[photo, mask],
    )  # fmt: skip

    await send_event(bot, payloads.envelope(event, event_id="Ev0MENTION", bot_user="U0BOT"))

    (job,) = await bot.finished(1)
    assert (job.kind, job.origin, job.prompt) == ("edit", "mention", "paint the sky")
    assert [(i.name, i.is_mask) for i in job.inputs] == [("photo.png", False), ("mask.png", True)]
    assert job.thread_ts == stored["ts"]


async def test_a_direct_message_makes_an_image_in_the_dm(
    bot: RunningBot, slack: SlackStandIn
) -> None:
    dm = slack.add_channel("D0ALICE", "", is_im=True, user="U0ALICE")
    stored = slack.add_message(dm.id, "a paper crane")
    event = payloads.message_im(
        channel=dm.id, user="U0ALICE", text="a paper crane", ts=stored["ts"]
    )

    await send_event(bot, payloads.envelope(event, event_id="Ev0DM", bot_user="U0BOT"))

    (job,) = await bot.finished(1)
    assert (job.kind, job.origin, job.channel_id, job.prompt) == (
        "generate", "dm", dm.id, "a paper crane",
    )  # fmt: skip


async def test_an_events_api_retry_of_a_handled_event_does_nothing(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    dm = slack.add_channel("D0ALICE", "", is_im=True, user="U0ALICE")
    stored = slack.add_message(dm.id, "a paper crane")
    event = payloads.message_im(
        channel=dm.id, user="U0ALICE", text="a paper crane", ts=stored["ts"]
    )
    envelope = payloads.envelope(event, event_id="Ev0AGAIN", bot_user="U0BOT")

    await send_event(bot, envelope)
    await bot.finished(1)
    await send_event(bot, envelope, **payloads.RETRY_HEADERS)
    await bot.idle()

    assert len(await bot.store.jobs()) == 1 and len(fal.requests) == 1


async def test_a_button_press_regenerates_the_cards_request(
    bot: RunningBot, slack: SlackStandIn
) -> None:
    first = await bot.delivered("a red kite --quality low")
    payload = payloads.block_actions(
        user="U0ALICE", channel="C0GENERAL", message_ts=first.card_ts or "",
        action_id=ACTION_REGENERATE, value=first.id, trigger_id=slack.trigger_id(ttl=None),
        response_url=slack.response_url(),
    )  # fmt: skip

    await send_interaction(bot, payload)

    _, again = await bot.finished(2)
    assert (again.origin, again.prompt, again.request.quality, again.thread_ts) == (
        "button", "a red kite", "low", first.thread_ts,
    )  # fmt: skip


async def test_the_shortcut_and_its_dialog_edit_the_messages_image(
    bot: RunningBot, slack: SlackStandIn
) -> None:
    photo = shared_file(slack, "kitchen.png")
    message = slack.add_message("C0GENERAL", "our kitchen", user="U0BOB", files=[photo])
    trigger = slack.trigger_id(ttl=3.0)
    shortcut = payloads.message_action(
        user="U0ALICE", channel="C0GENERAL", callback_id=EDIT_SHORTCUT, trigger_id=trigger,
        message=message | {"files": [photo]}, response_url=slack.response_url(),
    )  # fmt: skip

    await send_interaction(bot, shortcut)
    (opened,) = await slack.wait_for(lambda: slack.views)
    assert opened.trigger_id == trigger and opened.view["callback_id"] == EDIT_MODAL
    values = {
        "instruction": {"value": {"type": "plain_text_input", "value": "green walls"}},
        "options": {"value": {"type": "plain_text_input", "value": "--quality low"}},
    }
    view = opened.view | {"id": opened.view_id}
    submitted = payloads.view_submission(
        user="U0ALICE", view=view, values=values, trigger_id=slack.trigger_id(ttl=None)
    )
    await send_interaction(bot, submitted)

    (job,) = await bot.finished(1)
    assert (job.kind, job.origin, job.user_id, job.thread_ts) == (
        "edit", "shortcut", "U0ALICE", message["ts"],
    )  # fmt: skip
    assert (job.prompt, job.request.quality) == ("green walls", "low")
    assert [i.slack_file_id for i in job.inputs] == [photo["id"]]


async def test_opening_the_home_tab_publishes_it(bot: RunningBot, slack: SlackStandIn) -> None:
    event = payloads.app_home_opened(user="U0BOB", channel=slack.im_with("U0BOB"), view=None)

    await send_event(bot, payloads.envelope(event, event_id="Ev0HOME", bot_user="U0BOT"))
    await bot.idle()

    (published,) = slack.views
    assert (published.method, published.user_id) == ("views.publish", "U0BOB")
    assert "Your image spend" in json.dumps(published.view)


# --- the driver plays Slack in the same shapes -----------------------------------------------


def keys(payload: dict[str, Any]) -> set[str]:
    return set(payload)


async def test_the_drivers_command_and_envelope_have_slacks_keys(
    bot: RunningBot, slack: SlackStandIn
) -> None:
    form = dict(parse_qsl(bot.driver.command_body("/image", "x"), keep_blank_values=True))
    published = payloads.slash_command(
        channel="C", user="U", text="x", response_url="r", trigger_id="t"
    )
    assert keys(form) == keys(published)
    envelope = json.loads(bot.driver.event_body({"type": "message"}))
    expected = payloads.envelope({}, event_id="Ev", bot_user="U0BOT")
    assert keys(envelope) == keys(expected)
    assert keys(envelope["authorizations"][0]) == keys(expected["authorizations"][0])


async def test_the_drivers_events_have_slacks_keys(bot: RunningBot, slack: SlackStandIn) -> None:
    photo = shared_file(slack, "p.png")
    parent = slack.add_message("C0GENERAL", "a card")
    reply = slack.add_message("C0GENERAL", "hi", thread_ts=parent["ts"], files=[photo])
    dm = slack.add_message(slack.im_with("U0ALICE"), "hello")
    message = bot.driver.message_event(reply)
    mention = bot.driver.message_event(reply | {"thread_ts": None}, kind="app_mention")
    im = bot.driver.message_event(dm, channel=dm["ts"], channel_type="im")

    common = {"channel": "C", "user": "U", "text": "t", "ts": "1.2"}
    assert keys(message) == keys(payloads.file_share(**common, files=[], thread_ts="1.1"))
    assert keys(mention) == keys(payloads.app_mention(**common, files=[]))
    assert keys(im) == keys(payloads.message_im(**common))
    opened = bot.driver.home_opened("U0BOB")
    assert keys(opened) == keys(payloads.app_home_opened(user="U", channel="D", view=None))


def test_the_stand_ins_files_have_slacks_keys(slack: SlackStandIn) -> None:
    hosted = slack.host_file(b"\x89PNG", name="a.png", mimetype="image/png")
    published = payloads.slack_file(
        file_id="F", name="a.png", user="U", url_private="u", url_private_download="d"
    )
    missing = {key for key in published if not key.startswith(THUMBNAILS)} - set(hosted)
    assert missing == set()


async def test_the_drivers_interactions_have_slacks_keys(
    bot: RunningBot, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dict[str, Any]] = []

    async def capture(payload: dict[str, Any]) -> None:
        sent.append(payload)

    monkeypatch.setattr(bot.driver, "interaction", capture)
    await bot.driver.press(ACTION_REGENERATE, "j1", message_ts="1.2")
    await bot.driver.shortcut(EDIT_SHORTCUT, {"ts": "1.2", "text": "x"})
    view = {
        "id": "V1", "type": "modal", "callback_id": EDIT_MODAL, "private_metadata": "{}",
        "title": {}, "close": {}, "submit": {}, "blocks": [],
    }  # fmt: skip
    await bot.driver.submit_view(view, {"instruction": "x"})
    press, shortcut, submitted = sent

    published: list[tuple[dict[str, Any], Callable[..., dict[str, Any]], dict[str, Any]]] = [
        (press, payloads.block_actions, dict(user="U", channel="C", message_ts="1", action_id="a", value="v", trigger_id="t", response_url="r")),
        (shortcut, payloads.message_action, dict(user="U", channel="C", callback_id="c", trigger_id="t", message={"ts": "1"}, response_url="r")),
        (submitted, payloads.view_submission, dict(user="U", view=view, values={}, trigger_id="t")),
    ]  # fmt: skip
    for ours, build, arguments in published:
        theirs = build(**arguments)
        assert keys(ours) == keys(theirs), build.__name__
        for part in ("user", "team", "container", "view"):
            if part in theirs:
                assert keys(ours[part]) == keys(theirs[part]), (build.__name__, part)
    assert keys(press["actions"][0]) == keys(
        payloads.block_actions(**published[0][2])["actions"][0]
    )

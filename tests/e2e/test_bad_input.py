"""Bad input at every entry point: a clear message or a 4xx, never a crash or a traceback, and
nothing sent to fal or charged."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import pytest

from bot.slack.views.card import ACTION_REGENERATE
from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.harness import RunningBot, bot_env, running_bot
from bot.testing.images import make_png
from bot.testing.slack.driver import Reply
from bot.testing.slack.standin import SlackStandIn
from tests.requests.test_grammar import BAD_IMAGE_OPTIONS

ADMIN = "U0ADMIN"


@dataclass
class World:
    bot: RunningBot
    slack: SlackStandIn
    fal: FalStandIn
    thread: str = ""


Action = Callable[[World], Awaitable[Reply | None]]


@dataclass(frozen=True)
class Case:
    name: str
    act: Action
    says: str | None = None  # words the person is shown
    status: int = 200
    in_thread: bool = False  # acts in the thread of a finished image


def image(text: str) -> Action:
    return lambda w: w.bot.driver.command("/image", text)


def admin(text: str) -> Action:
    return lambda w: w.bot.driver.command("/image-admin", text, user=ADMIN)


def reply(text: str) -> Action:
    async def act(w: World) -> None:
        await w.bot.driver.say(text, thread_ts=w.thread)

    return act


def mention_with(name: str, mimetype: str, data: bytes, *, url: str | None = None) -> Action:
    async def act(w: World) -> None:
        shared = w.slack.host_file(data, name=name, mimetype=mimetype)
        if url is not None:
            shared = shared | {"url_private": url, "url_private_download": url}
        await w.bot.driver.say(f"<@{w.slack.bot_user_id}> edit this", files=[shared])

    return act


def modal(values: dict[str, str | None], metadata: str = '{"job": "jnope00000000"}') -> Action:
    view = {"type": "modal", "callback_id": "imagebot_edit_modal", "private_metadata": metadata}
    return lambda w: w.bot.driver.submit_view(view, values)


def new_image_dialog(values: dict[str, str | None]) -> Action:
    view = {"type": "modal", "callback_id": "imagebot_new_modal"}
    return lambda w: w.bot.driver.submit_view(view, values)


def press(value: str) -> Action:
    return lambda w: w.bot.driver.press(ACTION_REGENERATE, value, message_ts=w.thread)


def raw(body: str, content_type: str, headers: Callable[[World, str], dict[str, str]]) -> Action:
    return lambda w: w.bot.driver.post(body, content_type, headers(w, body))


def signed(w: World, body: str) -> dict[str, str]:
    return w.bot.driver.sign(body)


COMMAND = urlencode({"command": "/image", "text": "a cat", "user_id": "U0ALICE"})
FORM = "application/x-www-form-urlencoded"
CASES = [
    Case("quality ultra", image("a cat --quality ultra"), "ultra"),
    Case("too long prompt", image("y" * 32_001), "32,000"),
    Case("report by colour", admin("report --by colour"), "--by"),
    Case("report unknown period", admin("report yesterday"), "period"),
    Case("report bad dates", admin("report 2026-13-01..2026-13-02"), "date"),
    Case("report backwards", admin("report 2026-11-20..2026-11-01"), "before"),
    Case("budget nobody", admin("budget @nobody 5"), "isn't a person"),
    Case("budget negative", admin("budget <@U0BOB> -5"), "dollars"),
    Case("budget words", admin("budget <@U0BOB> lots"), "dollars"),
    Case("budget alone", admin("budget"), "Use `budget"),
    Case("admin nonsense", admin("frobnicate"), "don't know"),
    Case("reply bad option", reply("make it --quality ultra"), "ultra", in_thread=True),
    Case("reply image 9", reply("make it blue #9"), "no image 9", in_thread=True),
    Case("reply image 2 of 1", reply("#2 make it blue"), "has 1 image", in_thread=True),
    Case("text file", mention_with("notes.txt", "text/plain", b"hello\n"), "isn't an image"),
    Case("fake png", mention_with("fake.png", "image/png", b"not a png"), "isn't an image"),
    Case(
        "file over the cap",
        mention_with("big.png", "image/png", make_png("b", 64, 64, min_bytes=1_100_000)),
        "MB",
    ),
    Case(
        "file on a foreign host",
        mention_with("x.png", "image/png", make_png("x", 64, 64), url="https://evil.example/x.png"),
        "couldn't fetch",
    ),
    Case("mask only", mention_with("mask.png", "image/png", make_png("m", 64, 64)), "mask"),
    Case("dialog bad options", modal({"instruction": "brighter", "options": "--n 7"}), "7"),
    Case("dialog forged metadata", modal({"instruction": "brighter"}, "not json")),
    Case("dialog unknown job", modal({"instruction": "brighter"})),
    Case("new image dialog bad options", new_image_dialog({"instruction": "a cat", "options": "--n 9"}), "9"),
    Case("new image dialog forged without a channel", new_image_dialog({"instruction": "a cat"})),
    Case("details of no request", image("details 1700000000.000100"), "can't find a request"),
    Case("details of a bad link", image("details https://x.slack.com/archives/C0GENERAL/p1700000000000100"), "can't find a request"),
    Case("button empty value", press(""), "can't find", in_thread=True),
    Case("button unknown job", press("jnope00000000"), "can't find", in_thread=True),
    Case("button huge value", press("j" * 10_000), "can't find", in_thread=True),
    Case("wrong signature", raw(COMMAND, FORM, lambda w, b: signed(w, b) | {"X-Slack-Signature": "v0=00"}), status=401),
    Case("stale signature", raw(COMMAND, FORM, lambda w, b: w.bot.driver.sign(b, int(time.time()) - 900)), status=401),
    Case("no signature", raw(COMMAND, FORM, lambda w, b: {}), status=401),
    Case("oversized body", raw("x" * 2_000_000, FORM, signed), status=413),
    Case("malformed json", raw("{not json", "application/json", signed), status=400),
    Case("malformed payload", raw("payload=%7Bnope", FORM, signed), status=400),
    Case("unknown command", raw(COMMAND.replace("image", "imagine"), FORM, signed), status=404),
]  # fmt: skip


@pytest.fixture
async def world(slack: SlackStandIn, fal: FalStandIn, tmp_path: Path) -> AsyncIterator[World]:
    slack.add_user(ADMIN, "ada")
    fal.default = FalBehaviour(run_seconds=0.1, billable_units=Decimal("0.0421"))
    env = bot_env(
        slack, tmp_path, FAL_KEY=fal.key, IMAGEBOT_ADMINS=ADMIN, IMAGEBOT_MAX_INPUT_IMAGE_MB="1"
    )
    async with running_bot(slack, env) as bot:
        yield World(bot, slack, fal)


def shown(w: World, ack: Reply | None, before: int, ephemerals_before: int) -> str:
    texts = [r.body.get("text", "") for r in w.slack.responses[before:] if r.body]
    texts += [e.get("text", "") for e in w.slack.ephemerals[ephemerals_before:]]
    if ack is not None and ack.body.startswith("{"):
        body = ack.json()
        texts.append(json.dumps(body))
    return "\n".join(texts)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_bad_input_gets_a_clear_answer_and_costs_nothing(world: World, case: Case) -> None:
    if case.in_thread:
        world.thread = (await world.bot.delivered("a lighthouse --quality low")).thread_ts or ""
    fal_before = len(world.fal.requests)
    jobs_before = len(await world.bot.store.jobs())
    responses, ephemerals = len(world.slack.responses), len(world.slack.ephemerals)

    ack = await case.act(world)
    await world.bot.idle()

    if ack is not None:
        assert ack.status == case.status, ack.body[:300]
    said = shown(world, ack, responses, ephemerals)
    if case.says is not None:
        assert case.says in said, said
    assert "Traceback" not in said
    assert len(world.fal.requests) == fal_before
    assert len(await world.bot.store.jobs()) == jobs_before
    assert world.bot.services.ready


def test_the_table_covers_every_entry_point_with_forty_cases_or_more() -> None:
    # Most bad /image options are the grammar's cases now (one parse each, no bot to start);
    # the wire keeps a few, and the other entry points all of theirs.
    assert len(CASES) + len(BAD_IMAGE_OPTIONS) >= 40
    assert {"quality ultra", "too long prompt"} <= {case.name for case in CASES}

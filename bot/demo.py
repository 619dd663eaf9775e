"""`imagebot demo`: the bot at work with no keys and no network.

The real bot runs in this process against the Slack stand-in (bot.testing) and the mock image
provider, and plays a short conversation: a request, an edit by reply, a button, the usage
command and an admin report. The transcript is printed as a person would read it; the images,
the CSV report (and with --html a page of the conversation) go to a folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bot.blocks import ACTION_HIGH_QUALITY
from bot.clock import system_clock
from bot.store import Job, JobState
from bot.testing.harness import RunningBot, bot_env, running_bot
from bot.testing.slack_standin import Call, SlackStandIn

DEFAULT_PROMPT = "a lighthouse at dawn, oil painting --ar 16:9"
PEOPLE = {"U0ALICE": "alice", "U0BOB": "bob", "U0BOT": "imagebot"}
STEP_TIMEOUT = 25.0


@dataclass
class Line:
    speaker: str
    text: str
    where: str = ""
    images: list[str] = field(default_factory=list)


class Narrator:
    """Turns what the bot sent to Slack into lines of a conversation, as it happens."""

    def __init__(self, slack: SlackStandIn, folder: Path, out: TextIO) -> None:
        self.slack = slack
        self.folder = folder
        self.out = out
        self.lines: list[Line] = []
        self.saved: list[Path] = []
        self._calls = 0
        self._responses = 0
        self._status = ""

    def say(self, line: Line) -> None:
        self.lines.append(line)
        where = f" {line.where}" if line.where else ""
        print(f"{line.speaker}{where}: {line.text}", file=self.out, flush=True)
        for image in line.images:
            print(f"    saved {image}", file=self.out, flush=True)

    def catch_up(self) -> None:
        calls = self.slack.calls
        for call in calls[self._calls :]:
            if call.ok:
                self._narrate(call)
        self._calls = len(calls)
        responses = self.slack.responses
        for response in responses[self._responses :]:
            self.say(Line("imagebot", _plain(response.body or {}), "(only you can see this)"))
        self._responses = len(responses)

    def _narrate(self, call: Call) -> None:
        args = call.args
        channel = str(args.get("channel") or args.get("channel_id") or "")
        if call.method == "chat.postMessage":
            where = "(in the thread)" if args.get("thread_ts") else _place(channel)
            self.say(Line("imagebot", _plain(args), where))
            self._status = _status_of(args)
        elif call.method == "chat.update":
            status = _status_of(args)
            if status and status != self._status:
                self._status = status
                print(f"    card: {status}", file=self.out, flush=True)
        elif call.method == "files.completeUploadExternal":
            self._uploaded(args, channel)

    def _uploaded(self, args: dict[str, Any], channel: str) -> None:
        ids = [str(item["id"]) for item in args.get("files") or []]
        saved = []
        for upload in self.slack.uploads:
            if upload.file_id in ids:
                path = self.folder / f"{len(self.saved) + 1:02d}-{upload.filename}"
                path.write_bytes(upload.bytes)
                self.saved.append(path)
                saved.append(path.name)
        where = "(in the thread)" if args.get("thread_ts") else _place(channel)
        count = f"{len(saved)} file" + ("s" if len(saved) != 1 else "")
        self.say(Line("imagebot", f"uploaded {count}", where, saved))


def _place(channel: str) -> str:
    return "(DM)" if channel.startswith("D") else "in #general"


def _status_of(args: dict[str, Any]) -> str:
    blocks = args.get("blocks") or []
    if len(blocks) >= 3 and blocks[2].get("type") == "section":
        return _emoji(str(blocks[2]["text"]["text"])).strip()
    return ""


_EMOJI = {
    ":hourglass_flowing_sand:": "⏳",
    ":art:": "🎨",
    ":outbox_tray:": "📤",
    ":white_check_mark:": "✅",
    ":warning:": "⚠️",
    ":no_entry_sign:": "🚫",
}


def _emoji(text: str) -> str:
    for code, glyph in _EMOJI.items():
        text = text.replace(code, glyph)
    return text


def _plain(message: dict[str, Any]) -> str:
    parts = []
    for block in message.get("blocks") or []:
        text = block.get("text") if isinstance(block, dict) else None
        if isinstance(text, dict):
            parts.append(str(text.get("text", "")))
        for item in block.get("fields", []) if isinstance(block, dict) else []:
            parts.append(str(item.get("text", "")).replace("\n", " "))
        for element in block.get("elements", []) if isinstance(block, dict) else []:
            if isinstance(element, dict) and isinstance(element.get("text"), str):
                parts.append(element["text"])
    text = _emoji("\n".join(parts) if parts else str(message.get("text", "")))
    for mark, plain in (("*", ""), ("&gt;", ">"), ("&lt;", "<"), ("&amp;", "&")):
        text = text.replace(mark, plain)
    for user, name in PEOPLE.items():
        text = text.replace(f"<@{user}>", f"@{name}")
    return text.replace("\n", "\n    ")


class Demo:
    def __init__(self, bot: RunningBot, slack: SlackStandIn, narrator: Narrator) -> None:
        self.bot = bot
        self.slack = slack
        self.narrator = narrator

    async def person(self, user: str, text: str, act: Awaitable[object], where: str = "") -> None:
        self.narrator.say(Line(PEOPLE[user], text, where))
        await act

    async def until(self, check: Callable[[list[Job]], bool]) -> list[Job]:
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            self.narrator.catch_up()
            jobs = await self.bot.store.jobs()
            if check(jobs):
                await self.bot.idle()
                self.narrator.catch_up()
                return jobs
            await asyncio.sleep(0.05)
        raise TimeoutError("the demo bot did not finish in time")

    async def play(self, prompt: str) -> int:
        driver = self.bot.driver
        await self.person(
            "U0ALICE", f"/image {prompt}", driver.command("/image", prompt), "in #general"
        )
        jobs = await self.until(lambda jobs: _done(jobs, 1) or self._refused())
        if not _done(jobs, 1):
            return 2
        first = jobs[0]
        edit = "make the sky navy"
        reply = driver.say(edit, user="U0BOB", thread_ts=first.thread_ts)
        await self.person("U0BOB", edit, reply, "(in the thread)")
        await self.until(lambda jobs: _done(jobs, 2))
        press = driver.press(ACTION_HIGH_QUALITY, first.id, message_ts=first.card_ts or "")
        await self.person("U0ALICE", "[presses High quality on her card]", press)
        await self.until(lambda jobs: _done(jobs, 3))
        await self.person("U0ALICE", "/image-usage", driver.command("/image-usage", ""))
        await self.until(lambda jobs: True)
        report = driver.command("/image-admin", "report --csv")
        await self.person("U0ALICE", "/image-admin report --csv", report)
        await self.until(
            lambda jobs: any(u.filename.endswith(".csv") for u in self.slack.uploads if u.completed)
        )
        return 0

    def _refused(self) -> bool:
        return bool(self.slack.responses)


def _done(jobs: list[Job], count: int) -> bool:
    return len(jobs) >= count and all(j.state == JobState.DELIVERED and j.card_done for j in jobs)


async def run_demo(prompt: str, folder: Path, *, write_html: bool, out: TextIO) -> int:
    slack = SlackStandIn()
    await slack.start()
    narrator = Narrator(slack, folder, out)
    env = bot_env(
        slack, folder, IMAGEBOT_PROVIDER="mock", IMAGEBOT_MOCK_DELAY_SECONDS="1.0",
        IMAGEBOT_ADMINS="U0ALICE",
    )  # fmt: skip
    try:
        async with running_bot(slack, env) as bot:
            code = await Demo(bot, slack, narrator).play(prompt)
    finally:
        await slack.stop()
    with contextlib.suppress(OSError):
        (folder / "imagebot-spool").rmdir()
    if write_html:
        page = folder / "conversation.html"
        page.write_text(render_html(narrator.lines), encoding="utf-8")
        print(f"\nconversation page: {page}", file=out)
    print(
        "\nThe mock provider draws local images and bills nothing; with fal, cards show what fal"
        f" billed.\nImages and the CSV report are in {folder}/ (the bot's database too:"
        f" IMAGEBOT_DATABASE_URL=sqlite:///{folder / 'imagebot.db'} imagebot report).",
        file=out,
    )
    return code


def render_html(lines: list[Line]) -> str:
    rows = []
    for line in lines:
        images = "".join(
            f'<figure><img src="{html.escape(name)}" alt="{html.escape(name)}"></figure>'
            for name in line.images
            if not name.endswith(".csv")
        )
        files = "".join(
            f'<a href="{html.escape(name)}">{html.escape(name)}</a>'
            for name in line.images
            if name.endswith(".csv")
        )
        rows.append(
            f'<div class="line"><b>{html.escape(line.speaker)}</b> <i>{html.escape(line.where)}</i>'
            f"<pre>{html.escape(line.text)}</pre>{images}{files}</div>"
        )
    style = (
        "body{font-family:sans-serif;max-width:900px;margin:2em auto}"
        "img{max-width:480px}pre{white-space:pre-wrap}"
    )
    head = f"<!doctype html><meta charset=utf-8><title>imagebot demo</title><style>{style}</style>"
    return head + "".join(rows)


def default_folder() -> Path:
    return Path.cwd() / f"imagebot-demo-{system_clock().astimezone():%Y%m%d-%H%M%S}"


def main(prompt: str | None, folder: Path | None, write_html: bool) -> int:
    target = folder or default_folder()
    target.mkdir(parents=True, exist_ok=True)
    print("imagebot demo: an offline Slack workspace, the mock image provider, no keys.\n")
    return asyncio.run(
        run_demo(prompt or DEFAULT_PROMPT, target, write_html=write_html, out=sys.stdout)
    )

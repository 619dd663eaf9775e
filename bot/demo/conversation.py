"""`imagebot demo`: the bot at work with no keys and no network.

The real bot runs in this process against the Slack stand-in (bot.testing) and the mock image
provider, and plays a short conversation: a request, an edit by reply, a button, the usage
command and an admin report. The transcript is printed as a person would read it; the images,
the CSV report (and with --html a page of the conversation as Slack shows it at the end) go to
a folder, emptied of an earlier demo's files first. The mock bills what the price table says,
labelled "demo pricing", so the money moves as it would with fal.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

from bot.demo.page import Entry, emoji, page
from bot.domain.clock import system_clock
from bot.slack.views.card import ACTION_FINAL, ACTION_HIGH_QUALITY
from bot.store import Job, JobState
from bot.testing.harness import RunningBot, bot_env, running_bot
from bot.testing.slack.driver import Reply
from bot.testing.slack.standin import Call, SlackStandIn

DEFAULT_PROMPT = "a lighthouse at dawn, oil painting --ar 16:9"
PEOPLE = {"U0ALICE": "alice", "U0BOB": "bob", "U0BOT": "imagebot"}
STEP_TIMEOUT = 25.0
PAGE = "conversation.html"
# What a demo leaves in its folder (and removes before the next one there).
_OUTPUTS = re.compile(
    r"^(\d\d-.+\.(png|jpe?g|webp|csv)|imagebot\.db(-wal|-shm)?|conversation\.html)$"
)


class Narrator:
    """Turns what the bot sent to Slack into lines of a conversation, as it happens, and keeps
    where each message is so the page can show it in its final state."""

    def __init__(self, slack: SlackStandIn, folder: Path, out: TextIO) -> None:
        self.slack = slack
        self.folder = folder
        self.out = out
        self.entries: list[Entry] = []
        self.saved: list[Path] = []
        self._claimed: set[str] = set()
        self._calls = 0
        self._responses = 0
        self._status = ""

    def say(self, entry: Entry) -> None:
        self.entries.append(entry)
        where = f" {entry.where}" if entry.where else ""
        print(f"{entry.speaker}{where}: {_indent(entry.text)}", file=self.out, flush=True)
        for image in entry.images:
            print(f"    saved {image}", file=self.out, flush=True)

    def answered(self, reply: Reply) -> bool:
        """A slash command's HTTP answer (help, or what was wrong with it); True if any."""
        body = reply.json() if reply.body.startswith("{") else None
        if not isinstance(body, dict) or not body.get("text"):
            return False
        self.say(_private(body))
        return True

    def catch_up(self) -> None:
        calls = self.slack.calls
        for call in calls[self._calls :]:
            if call.ok:
                self._narrate(call)
        self._calls = len(calls)
        responses = self.slack.responses
        for response in responses[self._responses :]:
            self.say(_private(response.body or {}))
        self._responses = len(responses)

    def _narrate(self, call: Call) -> None:
        args = call.args
        channel = str(args.get("channel") or args.get("channel_id") or "")
        if call.method == "chat.postMessage":
            entry = Entry(
                "imagebot", _plain(args), _place(channel, args), in_thread=_threaded(args)
            )
            self._remember(entry, channel, lambda m: m.get("text") == args.get("text"))
            self.say(entry)
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
        count = f"{len(saved)} file" + ("s" if len(saved) != 1 else "")
        entry = Entry("imagebot", f"uploaded {count}", _place(channel, args), images=saved)
        entry.in_thread = _threaded(args)
        files = set(ids)
        self._remember(entry, channel, lambda m: {f["id"] for f in m.get("files") or []} == files)
        self.say(entry)

    def _remember(
        self, entry: Entry, channel: str, match: Callable[[dict[str, Any]], bool]
    ) -> None:
        """Which stored message this is (the first the bot posted there that fits)."""
        for message in self.slack.messages(channel) if channel else []:
            if message["ts"] not in self._claimed and message.get("bot_id") and match(message):
                self._claimed.add(message["ts"])
                entry.place = (channel, message["ts"])
                return

    def final_entries(self) -> list[Entry]:
        """The conversation with every bot message as Slack holds it now."""
        for entry in self.entries:
            if entry.place is not None:
                channel, ts = entry.place
                found = [m for m in self.slack.messages(channel) if m["ts"] == ts]
                if found and found[0].get("blocks"):
                    entry.blocks = list(found[0]["blocks"])
        return self.entries


def _private(body: dict[str, Any]) -> Entry:
    blocks = body.get("blocks") if isinstance(body.get("blocks"), list) else []
    return Entry(
        "imagebot", _plain(body), "(only you can see this)", blocks=blocks or [], private=True
    )


def _threaded(args: dict[str, Any]) -> bool:
    return bool(args.get("thread_ts"))


def _place(channel: str, args: dict[str, Any]) -> str:
    if args.get("thread_ts"):
        return "(in the thread)"
    return "(DM)" if channel.startswith("D") else "in #general"


def _indent(text: str) -> str:
    return text.replace("\n", "\n    ")


def _status_of(args: dict[str, Any]) -> str:
    blocks = args.get("blocks") or []
    if len(blocks) >= 3 and blocks[2].get("type") == "section":
        return emoji(str(blocks[2]["text"]["text"])).strip()
    return ""


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
    text = emoji("\n".join(parts) if parts else str(message.get("text", "")))
    for mark, plain in (("*", ""), ("`", ""), ("&gt;", ">"), ("&lt;", "<"), ("&amp;", "&")):
        text = text.replace(mark, plain)
    for user, name in PEOPLE.items():
        text = text.replace(f"<@{user}>", f"@{name}")
    return text


class Demo:
    def __init__(self, bot: RunningBot, slack: SlackStandIn, narrator: Narrator) -> None:
        self.bot = bot
        self.slack = slack
        self.narrator = narrator

    async def person(self, user: str, text: str, act: Awaitable[Any], where: str = "") -> Any:
        self.narrator.say(Entry(PEOPLE[user], text, where, in_thread=where == "(in the thread)"))
        return await act

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

    async def play(self, prompt: str) -> bool:
        """The conversation; False when the bot turned the first request down (its answer is
        in the transcript, and that is where the demo ends)."""
        driver = self.bot.driver
        asked = driver.command("/image", prompt)
        reply = await self.person("U0ALICE", f"/image {prompt}", asked, "in #general")
        if self.narrator.answered(reply):
            return False
        jobs = await self.until(lambda jobs: _done(jobs, 1) or bool(self.slack.responses))
        if not _done(jobs, 1):
            return False
        first = jobs[0]
        edit = "make the sky navy"
        await self.person(
            "U0BOB",
            edit,
            driver.say(edit, user="U0BOB", thread_ts=first.thread_ts),
            "(in the thread)",
        )
        await self.until(lambda jobs: _done(jobs, 2))
        press = driver.press(ACTION_HIGH_QUALITY, first.id, message_ts=first.card_ts or "")
        await self.person("U0ALICE", "[presses High quality on her card]", press)
        await self.until(lambda jobs: _done(jobs, 3))
        draft = "a poster for Friday's launch --draft"
        asked = driver.command("/image", draft, user="U0BOB")
        await self.person("U0BOB", f"/image {draft}", asked, "in #general")
        latest = (await self.until(lambda jobs: _done(jobs, 4)))[0]  # newest first
        press = driver.press(
            ACTION_FINAL, latest.id, message_ts=latest.card_ts or "", user="U0ALICE"
        )
        await self.person("U0ALICE", "[presses Final on bob's draft]", press)
        await self.until(lambda jobs: _done(jobs, 5))
        await self.person("U0ALICE", "/image-usage", driver.command("/image-usage", ""))
        await self.until(lambda jobs: True)
        report = driver.command("/image-admin", "report --csv")
        await self.person("U0ALICE", "/image-admin report --csv", report)
        await self.until(
            lambda jobs: any(u.filename.endswith(".csv") for u in self.slack.uploads if u.completed)
        )
        return True


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
            played = await Demo(bot, slack, narrator).play(prompt)
        entries = narrator.final_entries()
    finally:
        await slack.stop()
    shutil.rmtree(folder / "imagebot-spool", ignore_errors=True)
    if write_html:
        (folder / PAGE).write_text(page(entries, PEOPLE, "imagebot demo"), encoding="utf-8")
        print(f"\nconversation page: {folder / PAGE}", file=out)
    if not played:
        print("\nThe bot turned that request down; try other words with --prompt.", file=out)
        return 0
    print(
        "\nThe mock provider draws local images and bills what fal's price guide says they would"
        " cost (demo pricing); with fal, cards show what fal billed.\nImages and the CSV report"
        f" are in {folder}/ (the bot's database too:"
        f" IMAGEBOT_DATABASE_URL=sqlite:///{folder / 'imagebot.db'} imagebot report).",
        file=out,
    )
    return 0


def default_folder() -> Path:
    return Path.cwd() / f"imagebot-demo-{system_clock().astimezone():%Y%m%d-%H%M%S}"


def prepare(folder: Path) -> None:
    """An empty stage: an earlier demo's images, report, page and database go; anything else
    in the folder stays."""
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        if path.is_file() and _OUTPUTS.match(path.name):
            path.unlink()
    shutil.rmtree(folder / "imagebot-spool", ignore_errors=True)


def main(prompt: str | None, folder: Path | None, write_html: bool) -> int:
    target = folder or default_folder()
    try:
        prepare(target)
    except NotADirectoryError:
        print(f"imagebot demo: --out {target} is a file; give a folder", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"imagebot demo: cannot use {target}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print("imagebot demo: an offline Slack workspace, the mock image provider, no keys.\n")
    return asyncio.run(
        run_demo(prompt or DEFAULT_PROMPT, target, write_html=write_html, out=sys.stdout)
    )

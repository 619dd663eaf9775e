"""A recording Slack double, and the bot's services assembled on it, for the unit tests of the
layers above Slack (the runner, intake, conversations, controls, the notifier).

RecordingSlack has SlackOut's methods, each writing down what it was asked and answering as
Slack would, in memory; it can be told to refuse with Slack's error codes (`refuse`) and knows
files people shared (`share`). End-to-end tests use the Slack stand-in with the real client
instead."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.domain.clock import Clock, system_clock
from bot.jobs.inputs import InputResolver
from bot.jobs.runner import Runner, RunnerConfig
from bot.money.budgets import Budgets
from bot.providers.mock import MockProvider
from bot.requests.controls import Controls
from bot.requests.conversation import Conversation
from bot.requests.intake import Intake
from bot.slack.admins import Admins
from bot.slack.client import UploadFile, job_metadata
from bot.slack.errors import SlackError
from bot.slack.files import SharedFile
from bot.slack.notifier import Notifier
from bot.store import Job, Store
from tests.factories import CATALOG


@dataclass
class Said:
    """One thing the bot sent: a post, a card edit, an ephemeral, a response, an upload."""

    how: str  # "post", "card", "update", "ephemeral", "respond", "dm", "upload", "view"
    where: str  # a channel, a response_url, a trigger id
    text: str = ""
    user: str = ""
    thread_ts: str | None = None
    blocks: list[dict[str, Any]] | None = None
    files: list[tuple[str, bytes]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


class RecordingSlack:
    def __init__(self) -> None:
        self.said: list[Said] = []
        self.files: dict[str, tuple[SharedFile, bytes]] = {}
        # (method, channel or "") -> Slack's error code; "" matches every channel.
        self._refusals: dict[tuple[str, str], str] = {}
        self._ts = itertools.count(1)
        self._file_ids = itertools.count(1)
        self.cards: dict[str, str] = {}  # job id -> ts of its card
        self.parts: dict[tuple[str, str], str] = {}  # (job id, part) -> ts

    # --- set-up

    def refuse(self, method: str, code: str, channel: str = "") -> None:
        """From now on `method` (in `channel`, or anywhere) answers Slack's error `code`."""
        self._refusals[(method, channel)] = code

    def share(self, name: str, data: bytes, mimetype: str = "image/png") -> SharedFile:
        """A file a person shared; the bot can download it."""
        file_id = f"F{next(self._file_ids):08d}"
        shared = SharedFile(
            file_id, name, mimetype, len(data), f"https://files.slack.com/{file_id}"
        )
        self.files[file_id] = (shared, data)
        return shared

    def told(self, user: str) -> list[Said]:
        """What reached `user` privately (response_url, ephemeral or DM), in order."""
        private = ("respond", "ephemeral", "dm")
        return [s for s in self.said if s.how in private and s.user == user]

    def of(self, how: str) -> list[Said]:
        return [s for s in self.said if s.how == how]

    # --- SlackOut

    def _check(self, method: str, channel: str) -> None:
        code = self._refusals.get((method, channel)) or self._refusals.get((method, ""))
        if code is not None:
            raise SlackError(code, method)

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    async def post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        *,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        self._check("chat.postMessage", channel)
        how = "dm" if channel.startswith("D") else "post"
        user = channel.removeprefix("D") if how == "dm" else ""
        self.said.append(Said(how, channel, text, user, thread_ts, blocks, extra={"m": metadata}))
        return self._next_ts()

    async def post_job_message(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]],
        *,
        job_id: str,
        thread_ts: str | None,
        part: str = "card",
    ) -> str:
        self._check("chat.postMessage", channel)
        ts = self._next_ts()
        metadata = job_metadata(job_id, part)
        self.said.append(Said(part, channel, text, "", thread_ts, blocks, extra={"m": metadata}))
        if part == "card":
            self.cards[job_id] = ts
        else:
            self.parts[(job_id, part)] = ts
        return ts

    async def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        self._check("chat.update", channel)
        self.said.append(Said("update", channel, text, "", None, blocks, extra={"ts": ts}))

    async def find_job_message(
        self, channel: str, job_id: str, *, thread_ts: str | None, oldest: float, part: str = "card"
    ) -> str | None:
        return self.cards.get(job_id) if part == "card" else self.parts.get((job_id, part))

    async def find_job_files(self, channel: str, thread_ts: str, prefix: str) -> list[str]:
        return [
            file_id
            for upload in self.of("upload")
            if upload.where == channel and upload.thread_ts == thread_ts
            for (name, _), file_id in zip(upload.files, upload.extra["ids"], strict=True)
            if name.startswith(prefix)
        ]

    async def find_own_files(self, channel: str, prefix: str) -> list[tuple[str, str]]:
        return []

    async def shared_in(self, file_ids: list[str], channel: str, within: float) -> bool:
        return True

    async def upload(
        self,
        channel: str,
        thread_ts: str | None,
        files: Sequence[UploadFile],
        comment: str | None,
        *,
        completing: Callable[[list[str]], Awaitable[None]] | None = None,
    ) -> list[str]:
        self._check("files.completeUploadExternal", channel)
        contents = [(item.filename, await item.read()) for item in files]
        ids = [f"F{next(self._file_ids):08d}" for _ in contents]
        if completing is not None:
            await completing(ids)
        self.said.append(
            Said(
                "upload", channel, comment or "", "", thread_ts, files=contents, extra={"ids": ids}
            )
        )
        return ids

    async def respond(
        self, response_url: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> bool:
        if ("respond", response_url) in self._refusals:
            return False
        user = response_url.rpartition("/")[2]
        self.said.append(Said("respond", response_url, text, user, None, blocks))
        return True

    async def ephemeral(
        self,
        channel: str,
        user: str,
        text: str,
        thread_ts: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
    ) -> None:
        self._check("chat.postEphemeral", channel)
        self.said.append(Said("ephemeral", channel, text, user, thread_ts, blocks))

    async def open_dm(self, user: str) -> str:
        self._check("conversations.open", "")
        return f"D{user}"

    async def dm(self, user: str, text: str, blocks: list[dict[str, Any]] | None = None) -> str:
        channel = await self.open_dm(user)
        await self.post(channel, text, blocks)
        return channel

    async def shared_file(self, file_id: str) -> SharedFile | None:
        self._check("files.info", "")
        known = self.files.get(file_id)
        return None if known is None else known[0]

    async def download(self, url: str, max_bytes: int) -> bytes:
        for shared, data in self.files.values():
            if shared.url == url:
                if len(data) > max_bytes:
                    raise SlackError("file_too_large", "files.download")
                return data
        raise SlackError("http_404", "files.download", 404)

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        self.said.append(Said("view", trigger_id, extra={"view": view}))

    async def user_info(self, user: str) -> dict[str, Any]:
        return {"id": user, "name": user.lower()}

    async def close(self) -> None:
        pass


@dataclass
class Parts:
    """The bot's services from the store up to conversations and controls, on the mock provider
    and a RecordingSlack: everything the handlers call, without HTTP."""

    settings: Settings
    store: Store
    slack: RecordingSlack
    notifier: Notifier
    provider: MockProvider
    runner: Runner
    budgets: Budgets
    intake: Intake
    conversation: Conversation
    controls: Controls

    async def finished(self, count: int = 1, timeout: float = 20.0) -> list[Job]:
        """Every job, oldest first, once at least `count` exist and the runner is idle."""
        async with asyncio.timeout(timeout):
            while True:
                await self.runner.wait_idle()
                jobs = await self.store.jobs()
                if len(jobs) >= count and all(j.finished and j.card_done for j in jobs):
                    return list(reversed(jobs))
                await asyncio.sleep(0.02)


@asynccontextmanager
async def assembled(
    folder: Path, clock: Clock = system_clock, config: RunnerConfig | None = None, **env: str
) -> AsyncIterator[Parts]:
    """Parts wired as bot.app wires them; `env` adds settings by their variable names."""
    settings = Settings.model_validate(
        {"IMAGEBOT_DATABASE_URL": f"sqlite:///{folder / 'imagebot.db'}", **env}
    )
    store = await Store.open(settings.database_target, clock=clock)
    slack = RecordingSlack()
    notifier = Notifier(slack, store)  # type: ignore[arg-type]
    provider = MockProvider(CATALOG, delay=0.05, clock=clock)
    config = config or RunnerConfig(card_interval=0.01, spool=folder / "spool")
    inputs = InputResolver(provider, slack, settings.max_input_image_bytes)  # type: ignore[arg-type]
    runner = Runner(store, provider, slack, notifier, config, inputs)  # type: ignore[arg-type]
    budgets = Budgets(settings, store)
    intake = Intake(settings, budgets, runner, notifier, provider, clock)
    conversation = Conversation(settings, store, intake, notifier, slack)  # type: ignore[arg-type]
    admins = Admins(settings, slack)  # type: ignore[arg-type]
    controls = Controls(
        settings,
        store,
        intake,
        conversation,
        runner,
        admins,
        notifier,
        slack,  # type: ignore[arg-type]
    )
    parts = Parts(
        settings, store, slack, notifier, provider, runner, budgets, intake, conversation,
        controls,
    )  # fmt: skip
    try:
        yield parts
    finally:
        await runner.stop()
        await provider.close()
        await store.close()

"""Messages people send the bot (thread replies, mentions, DMs, the Edit modal) turned into
generate or edit jobs, or into a question when the bot cannot tell what they want."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from bot.config import Settings
from bot.domain.images import ImageRejected, PreparedImage, prepare_image
from bot.domain.request import ImageRequest, OptionError
from bot.jobs.image_offers import result_input
from bot.requests.grammar import parse_request
from bot.requests.intake import Intake
from bot.slack.blockkit import escape
from bot.slack.client import SlackOut
from bot.slack.errors import SlackError
from bot.slack.files import SharedFile
from bot.slack.notifier import Notifier, Requester
from bot.store import ImageInput, Job, JobState, Store

log = logging.getLogger(__name__)

# A repeated delivery of the same message is ignored for a week (Slack retries within minutes).
SEEN_TTL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class IncomingMessage:
    """A person's message to the bot, as the handlers read it from Slack's events."""

    user_id: str
    channel_id: str
    ts: str
    text: str
    team_id: str = ""
    thread_ts: str | None = None
    is_dm: bool = False
    mentions_bot: bool = False
    files: list[SharedFile] = field(default_factory=list)

    event_id: str | None = None

    @property
    def in_thread(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def key(self) -> str:
        # Shared by the `message` and `app_mention` events of one message: handled once.
        return f"msg:{self.channel_id}:{self.ts}"


class Conversation:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        intake: Intake,
        notifier: Notifier,
        slack: SlackOut,
    ) -> None:
        self.max_bytes = settings.max_input_image_bytes
        self.store = store
        self.intake = intake
        self.notifier = notifier
        self.slack = slack

    async def handle(self, message: IncomingMessage) -> None:
        """Decide what a message means, and act on it at most once.

        A Slack retry of an event already handled is dropped by its event id; the id is
        remembered only once handling is over, so a crash midway lets the retry through
        (the job's own dedupe key still stops a second job).
        """
        seen = f"event:{message.event_id}" if message.event_id else None
        if seen is not None and await self.store.seen(seen):
            log.info("event delivered again, ignored event=%s", message.event_id)
            return
        await self._handle(message)
        if seen is not None:
            await self.store.claim(seen, SEEN_TTL_SECONDS)

    async def _handle(self, message: IncomingMessage) -> None:
        thread_job = None
        if message.in_thread and message.thread_ts is not None:
            thread_job = await self.store.latest_in_thread(
                message.channel_id, message.thread_ts, delivered_only=False
            )
        if not (message.is_dm or message.mentions_bot or thread_job is not None):
            return
        if not message.text.strip() and not message.files:
            return
        root = message.thread_ts if message.in_thread else message.ts
        assert root is not None
        who = Requester(message.user_id, message.channel_id, message.team_id)
        if message.files and not message.text.strip():
            question = "What should I change? Reply with an instruction."
            await self._tell(who, root, message.key, question)
            return
        try:
            request = parse_request(
                message.text,
                default_quality=None,
                allow_image_pick=thread_job is not None,
            )
        except OptionError as exc:
            await self._tell(who, root, message.key, f":warning: {exc.message}")
            return
        origin = "dm" if message.is_dm else ("mention" if message.mentions_bot else "reply")
        if message.files:
            await self.edit_files(who, request, root, message.files, origin, message.key)
        elif thread_job is not None:
            await self.edit_latest(who, request, message.channel_id, root, origin, message.key)
        else:
            await self.intake.submit(
                who, request, origin=origin, thread_ts=root, source_key=message.key
            )

    async def edit_latest(
        self,
        who: Requester,
        request: ImageRequest,
        channel: str,
        thread_ts: str,
        origin: str,
        key: str,
        *,
        job: Job | None = None,
    ) -> None:
        """Edit an image of the thread's latest result (or of `job`)."""
        job = job or await self.store.latest_in_thread(channel, thread_ts)
        if job is None or job.state != JobState.DELIVERED:
            await self._tell(who, thread_ts, key, "There's no finished image here yet to edit.")
            return
        index = request.image_index or 1
        if index > len(job.images):
            count = len(job.images)
            text = (
                f"The latest result has {count} image{'s' if count > 1 else ''}: pick 1 to {count}."
            )
            await self._tell(who, thread_ts, key, text)
            return
        if not request.model:
            # An edit stays on the model that made the image (intake moves it to the edit
            # model when that one has no edit endpoint).
            request = request.model_copy(update={"model": job.request.model})
        source = result_input(job, index)
        await self._submit_edit(who, request, thread_ts, [source], job.id, origin, key)

    async def edit_files(
        self,
        who: Requester,
        request: ImageRequest,
        thread_ts: str,
        files: list[SharedFile],
        origin: str,
        key: str,
    ) -> None:
        inputs = await self._checked(who, thread_ts, key, files)
        if inputs is not None:
            await self._submit_edit(who, request, thread_ts, inputs, None, origin, key)

    async def _submit_edit(
        self,
        who: Requester,
        request: ImageRequest,
        thread_ts: str,
        inputs: list[ImageInput],
        parent: str | None,
        origin: str,
        key: str,
    ) -> None:
        await self.intake.submit(
            who, request, kind="edit", origin=origin, thread_ts=thread_ts, inputs=inputs,
            parent_job_id=parent, source_key=key,
        )  # fmt: skip

    async def _checked(
        self, who: Requester, thread_ts: str, key: str, files: list[SharedFile]
    ) -> list[ImageInput] | None:
        """People's files, each fetched and checked now, so a bad one costs nothing."""
        max_bytes = self.max_bytes
        inputs = []
        for listed in files:
            # Events may carry only a file's id; files.info fills in the rest.
            shared = listed if listed.url else await self._shared_file(listed.id)
            if shared is None:
                await self._tell(who, thread_ts, key, "I can't open that file.")
                return None
            checked = await self._check(shared, max_bytes)
            if isinstance(checked, str):
                await self._tell(who, thread_ts, key, f":warning: {checked} Nothing was sent.")
                return None
            inputs.append(
                ImageInput(
                    slack_file_id=shared.id, slack_url=shared.url, name=shared.name,
                    is_mask=shared.is_mask, width=checked.width, height=checked.height,
                )
            )  # fmt: skip
        if all(item.is_mask for item in inputs):
            await self._tell(who, thread_ts, key, "Send the image to edit along with the mask.")
            return None
        return inputs

    async def _shared_file(self, file_id: str) -> SharedFile | None:
        try:
            shared = await self.slack.shared_file(file_id)
        except SlackError as exc:
            log.info("files.info failed for %s: %s", file_id, exc.code)
            return None
        return shared if shared is not None and shared.url else None

    async def _check(self, shared: SharedFile, max_bytes: int) -> PreparedImage | str:
        """The image as fal will get it, or what is wrong with it in a sentence."""
        if shared.size > max_bytes:
            mb = max_bytes / 1_000_000
            return (
                f"`{shared.name}` is {shared.size / 1e6:.1f} MB; I take images up to {mb:.0f} MB."
            )
        try:
            data = await self.slack.download(shared.url, max_bytes)
            # Decoding takes a CPU for a while: off the event loop, where Slack's acks wait.
            return await asyncio.to_thread(
                prepare_image, data, name=shared.name, max_bytes=max_bytes
            )
        except SlackError as exc:
            if exc.code == "file_too_large":
                return f"`{shared.name}` is larger than {max_bytes / 1e6:.0f} MB."
            return f"I couldn't fetch `{shared.name}` from Slack ({exc.code})."
        except ImageRejected as exc:
            return exc.message

    async def _tell(self, who: Requester, thread_ts: str, key: str, text: str) -> None:
        """A private answer in the thread, sent once however often Slack delivers the message.
        It may quote a person's words (file names, options), so it is escaped: no mention in
        it is live."""
        await self.notifier.tell(who, escape(text), thread_ts=thread_ts, once=f"{key}:answer")

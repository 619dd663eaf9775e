"""Outgoing Slack I/O: cards, thread posts, image uploads, replies to people, file downloads.

Every call the bot makes to Slack goes through `SlackOut`, which also turns Slack's error codes
into `SlackError` with a flag saying whether trying again can help.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.slack.blockkit import Block
from bot.slack.errors import PERMANENT_ERRORS, SlackError
from bot.slack.files import FileHosts, SharedFile

log = logging.getLogger(__name__)

__all__ = ["PERMANENT_ERRORS", "SlackError", "SlackOut", "UploadFile", "make_client"]

# A 5xx or a dropped connection may follow a call Slack carried out ("it's possible some aspect
# of the operation succeeded", Slack's Web API docs), so these are never repeated blindly:
# `post` looks for the message first, and an upload's completion is checked by its file ids.
JOB_METADATA_TYPE = "imagebot_job"
POST_METADATA_TYPE = "imagebot_post"
NOT_REPEATABLE = frozenset(
    {"chat.postMessage", "chat.postEphemeral", "files.completeUploadExternal"}
)
POST_RETRIES = (1.0, 3.0)


@dataclass(frozen=True)
class UploadFile:
    """A file to upload: from disk (`path`) or from memory (`content`)."""

    filename: str
    title: str
    alt_text: str = ""
    path: Path | None = None
    content: bytes | None = None

    async def read(self) -> bytes:
        if self.path is not None:
            return await asyncio.to_thread(self.path.read_bytes)
        return self.content or b""


def job_metadata(job_id: str, part: str) -> dict[str, Any]:
    """Tags a message with its job, so a restarted bot can find what it already posted."""
    return {"event_type": JOB_METADATA_TYPE, "event_payload": {"job_id": job_id, "part": part}}


def post_metadata(nonce: str) -> dict[str, Any]:
    """Tags any other message, so the bot can tell whether a post Slack left unanswered landed."""
    return {"event_type": POST_METADATA_TYPE, "event_payload": {"post": nonce}}


class _Repeatable(AsyncRetryHandler):
    """Retries what the handler it is mixed into retries, except calls Slack may have done."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if urlsplit(request.url).path.rsplit("/", 1)[-1] in NOT_REPEATABLE:
            return False
        return await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )


class _RepeatableServerErrors(_Repeatable, AsyncServerErrorRetryHandler):
    pass


class _RepeatableConnectionErrors(_Repeatable, AsyncConnectionErrorRetryHandler):
    pass


def make_client(
    token: str, base_url: str, session: aiohttp.ClientSession | None = None
) -> AsyncWebClient:
    """The Web API client, retrying 429s (honouring Retry-After: Slack did nothing) and 5xx
    answers of calls that are safe to repeat.

    Without a session slack-sdk opens a new connection (and TLS handshake) for every call;
    the bot passes one long-lived session so calls reuse connections.
    """
    handlers: list[AsyncRetryHandler] = [
        _RepeatableConnectionErrors(),
        AsyncRateLimitErrorRetryHandler(max_retry_count=4),
        _RepeatableServerErrors(max_retry_count=3),
    ]
    return AsyncWebClient(
        token=token, base_url=base_url, timeout=60, session=session, retry_handlers=handlers
    )


class SlackOut:
    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self.files = FileHosts(client.token or "", str(client.base_url))

    async def _call(self, method: str, **args: Any) -> dict[str, Any]:
        # slack-sdk's per-method functions know which methods take JSON and which take forms.
        call = getattr(self.client, method.replace(".", "_"))
        try:
            response = await call(**args)
        except SlackApiError as exc:
            code = str(exc.response.get("error", "unknown_error"))
            raise SlackError(code, method, exc.response.status_code) from None
        except (SlackRequestError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise SlackError(f"request_failed: {exc!r}"[:200], method) from None
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def post(
        self,
        channel: str,
        text: str,
        blocks: list[Block] | None = None,
        *,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Post once. Every post carries metadata; when Slack's answer leaves it unknown
        whether the post landed, the conversation is searched for it before trying again."""
        metadata = metadata or post_metadata(secrets.token_hex(8))
        args: dict[str, Any] = {
            "channel": channel,
            "text": text,
            "unfurl_links": False,
            "metadata": metadata,
        }
        if blocks is not None:
            args["blocks"] = blocks
        if thread_ts is not None:
            args["thread_ts"] = thread_ts
        since = time.time() - 60
        for pause in (*POST_RETRIES, None):
            try:
                data = await self._call("chat.postMessage", **args)
                return str(data["ts"])
            except SlackError as exc:
                if not exc.uncertain or pause is None:
                    raise
                log.warning("post to %s unanswered (%s); looking for it", channel, exc.code)
                landed = await self._find_post(channel, thread_ts, since, metadata)
                if landed is not None:
                    return landed
                await asyncio.sleep(pause)
        raise AssertionError("unreachable")

    async def post_job_message(
        self,
        channel: str,
        text: str,
        blocks: list[Block],
        *,
        job_id: str,
        thread_ts: str | None,
        part: str = "card",
    ) -> str:
        """Post a job's card (or another `part` of it), joining a public channel first when
        the bot is not in it yet."""
        metadata = job_metadata(job_id, part)
        try:
            return await self.post(channel, text, blocks, thread_ts=thread_ts, metadata=metadata)
        except SlackError as exc:
            if exc.code != "not_in_channel":
                raise
        await self._call("conversations.join", channel=channel)
        return await self.post(channel, text, blocks, thread_ts=thread_ts, metadata=metadata)

    async def update(self, channel: str, ts: str, text: str, blocks: list[Block]) -> None:
        await self._call("chat.update", channel=channel, ts=ts, text=text, blocks=blocks)

    async def find_job_message(
        self, channel: str, job_id: str, *, thread_ts: str | None, oldest: float, part: str = "card"
    ) -> str | None:
        """The ts of a card (or another `part`) this bot posted for the job, if one exists
        (after a crash)."""
        return await self._find_post(channel, thread_ts, oldest, job_metadata(job_id, part))

    async def _find_post(
        self, channel: str, thread_ts: str | None, oldest: float, metadata: dict[str, Any]
    ) -> str | None:
        for message in await self._messages(channel, thread_ts, oldest):
            found = message.get("metadata") or {}
            if (found.get("event_type"), found.get("event_payload")) == (
                metadata["event_type"],
                metadata["event_payload"],
            ):
                return str(message["ts"])
        return None

    async def find_job_files(self, channel: str, thread_ts: str, prefix: str) -> list[str]:
        """Ids of files already in the thread whose names start with the job's prefix."""
        return [file_id for file_id, _ in await self._files_in(channel, thread_ts, prefix)]

    async def find_own_files(self, channel: str, prefix: str) -> list[tuple[str, str]]:
        """(id, name) of files in the conversation whose names start with `prefix`, newest
        first (deleted ones left out)."""
        return await self._files_in(channel, None, prefix)

    async def _files_in(
        self, channel: str, thread_ts: str | None, prefix: str
    ) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for message in await self._messages(channel, thread_ts, 0.0):
            for item in message.get("files") or []:
                name = str(item.get("name", ""))
                if name.startswith(prefix) and item.get("mode") != "tombstone":
                    found.append((str(item["id"]), name))
        return found

    async def shared_in(self, file_ids: list[str], channel: str, within: float) -> bool:
        """Wait (up to `within` seconds) until Slack lists every file as shared in `channel`.
        A completed upload is shared a moment later (`shares` starts empty); False when a
        file is unknown (never completed) or still not shared in time."""
        deadline = time.monotonic() + within
        pause = 0.25
        while True:
            try:
                infos = [await self._file_info(file_id) for file_id in file_ids]
            except SlackError as exc:
                if exc.code == "file_not_found":
                    return False
                raise
            if all(_shared(info, channel) for info in infos):
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(pause)
            pause = min(2.0, pause * 2)

    async def _messages(
        self, channel: str, thread_ts: str | None, oldest: float
    ) -> list[dict[str, Any]]:
        method = "conversations.replies" if thread_ts else "conversations.history"
        args: dict[str, Any] = {"channel": channel, "limit": 200, "include_all_metadata": True}
        if thread_ts:
            args["ts"] = thread_ts
        else:
            args["oldest"] = f"{oldest:.6f}"
        messages: list[dict[str, Any]] = []
        for _ in range(20):
            data = await self._call(method, **args)
            messages.extend(data.get("messages") or [])
            cursor = (data.get("response_metadata") or {}).get("next_cursor")
            if not data.get("has_more") or not cursor:
                break
            args["cursor"] = cursor
        return messages

    async def upload(
        self,
        channel: str,
        thread_ts: str | None,
        files: Sequence[UploadFile],
        comment: str | None,
        *,
        completing: Callable[[list[str]], Awaitable[None]] | None = None,
    ) -> list[str]:
        """Upload files as one message in a conversation (a thread, when given); Slack's file
        ids. files_upload_v2's steps are taken here so that `completing` can keep the ids
        before the one step that shares them: Slack may share and still answer 5xx."""
        entries = []
        for item in files:
            data = await item.read()
            started = await self._call(
                "files.getUploadURLExternal",
                filename=item.filename,
                length=len(data),
                alt_txt=item.alt_text or None,
            )
            await self.files.send(str(started["upload_url"]), data)
            entries.append({"id": str(started["file_id"]), "title": item.title})
        ids = [entry["id"] for entry in entries]
        if completing is not None:
            await completing(ids)
        await self._call(
            "files.completeUploadExternal",
            files=entries,
            channel_id=channel,
            thread_ts=thread_ts,
            initial_comment=comment,
        )
        return ids

    async def respond(
        self, response_url: str, text: str, blocks: list[Block] | None = None
    ) -> bool:
        """An ephemeral answer through a command's response_url; False when it did not land
        (Slack takes 5 answers within 30 minutes, then refuses)."""
        try:
            response = await AsyncWebhookClient(response_url).send(
                text=text, blocks=blocks, response_type="ephemeral"
            )
        except (OSError, TimeoutError, SlackRequestError, aiohttp.ClientError) as exc:
            log.warning("response_url post failed: %r", exc)
            return False
        return response.status_code == 200

    async def ephemeral(
        self,
        channel: str,
        user: str,
        text: str,
        thread_ts: str | None = None,
        blocks: list[Block] | None = None,
    ) -> None:
        args: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if thread_ts:
            args["thread_ts"] = thread_ts
        if blocks:
            args["blocks"] = blocks
        await self._call("chat.postEphemeral", **args)

    async def open_dm(self, user: str) -> str:
        data = await self._call("conversations.open", users=user)
        return str(data["channel"]["id"])

    async def dm(self, user: str, text: str, blocks: list[Block] | None = None) -> str:
        channel = await self.open_dm(user)
        await self.post(channel, text, blocks)
        return channel

    def trusted_file_url(self, url: str) -> bool:
        return self.files.trusted(url)

    async def download(self, url: str, max_bytes: int) -> bytes:
        """A person's file, fetched with the bot token (see bot.slack.files)."""
        return await self.files.download(url, max_bytes)

    async def shared_file(self, file_id: str) -> SharedFile | None:
        """What Slack says of a file now (its download URL among it); None if it says nothing."""
        return SharedFile.from_slack(await self._file_info(file_id))

    async def file_permalink(self, file_id: str) -> str | None:
        """The link to a file as Slack shows it (files.info's `permalink`)."""
        link = (await self._file_info(file_id)).get("permalink")
        return str(link) if link else None

    async def _file_info(self, file_id: str) -> dict[str, Any]:
        data = await self._call("files.info", file=file_id)
        info = data.get("file")
        return dict(info) if isinstance(info, dict) else {}

    async def delete_file(self, file_id: str) -> None:
        await self._call("files.delete", file=file_id)

    async def close(self) -> None:
        await self.files.close()
        if self.client.session is not None:
            await self.client.session.close()

    async def auth_test(self) -> dict[str, Any]:
        """Who the bot token belongs to; Slack answers `invalid_auth` for a wrong token."""
        return await self._call("auth.test")

    async def user_info(self, user: str) -> dict[str, Any]:
        data = await self._call("users.info", user=user)
        info = data.get("user")
        return dict(info) if isinstance(info, dict) else {}

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        await self._call("views.open", trigger_id=trigger_id, view=view)

    async def publish_home(self, user: str, view: dict[str, Any]) -> None:
        await self._call("views.publish", user_id=user, view=view)


def _shared(info: dict[str, Any], channel: str) -> bool:
    shares = info.get("shares") or {}
    return any(channel in (shares.get(kind) or {}) for kind in ("public", "private"))

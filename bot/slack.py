"""Outgoing Slack I/O: cards, thread posts, image uploads, replies to people, file downloads.

Every call the bot makes to Slack goes through `SlackOut`, which also turns Slack's error codes
into `SlackError` with a flag saying whether trying again can help.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.blocks import JOB_METADATA_TYPE, Block, job_metadata

log = logging.getLogger(__name__)

# Errors that no retry will fix: the place is gone, closed to us, or the request is wrong.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "msg_too_long",
        "invalid_blocks",
        "invalid_thread_ts",
        "thread_not_found",
        "message_not_found",
        "cant_update_message",
        "restricted_action",
        "user_not_found",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "method_not_supported_for_channel_type",
        "images_lost",
    }
)


class SlackError(Exception):
    def __init__(self, code: str, method: str) -> None:
        super().__init__(f"{method}: {code}")
        self.code = code
        self.method = method

    @property
    def permanent(self) -> bool:
        return self.code in PERMANENT_ERRORS


@dataclass(frozen=True)
class UploadFile:
    """A file to upload: from disk (`path`) or from memory (`content`)."""

    filename: str
    title: str
    alt_text: str = ""
    path: Path | None = None
    content: bytes | None = None

    def as_upload(self) -> dict[str, Any]:
        source: dict[str, Any] = (
            {"file": str(self.path)} if self.path else {"content": self.content}
        )
        return {"filename": self.filename, "title": self.title, "alt_txt": self.alt_text, **source}


def make_client(
    token: str, base_url: str, session: aiohttp.ClientSession | None = None
) -> AsyncWebClient:
    """The Web API client, retrying 429s (honouring Retry-After) and 5xx answers.

    Without a session slack-sdk opens a new connection (and TLS handshake) for every call;
    the bot passes one long-lived session so calls reuse connections.
    """
    client = AsyncWebClient(token=token, base_url=base_url, timeout=60, session=session)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=4))
    client.retry_handlers.append(AsyncServerErrorRetryHandler(max_retry_count=3))
    return client


class SlackOut:
    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        api_host = urlsplit(str(client.base_url)).hostname or ""
        self.file_hosts = frozenset({"files.slack.com", api_host})
        # Redirects are not followed: they could carry the bot token to another host.
        self._files = httpx.AsyncClient(timeout=60, follow_redirects=False)

    async def _call(self, method: str, **args: Any) -> dict[str, Any]:
        # slack-sdk's per-method functions know which methods take JSON and which take forms.
        call = getattr(self.client, method.replace(".", "_"))
        try:
            response = await call(**args)
        except SlackApiError as exc:
            code = str(exc.response.get("error", "unknown_error"))
            raise SlackError(code, method) from None
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
        args: dict[str, Any] = {"channel": channel, "text": text, "unfurl_links": False}
        if blocks is not None:
            args["blocks"] = blocks
        if thread_ts is not None:
            args["thread_ts"] = thread_ts
        if metadata is not None:
            args["metadata"] = metadata
        data = await self._call("chat.postMessage", **args)
        return str(data["ts"])

    async def post_job_message(
        self, channel: str, text: str, blocks: list[Block], *, job_id: str, thread_ts: str | None
    ) -> str:
        """Post a card, joining a public channel first when the bot is not in it yet."""
        metadata = job_metadata(job_id, "card")
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
        self, channel: str, job_id: str, *, thread_ts: str | None, oldest: float
    ) -> str | None:
        """The ts of a card this bot posted for the job, if one exists (after a crash)."""
        for message in await self._messages(channel, thread_ts, oldest):
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == JOB_METADATA_TYPE and payload.get("job_id") == job_id:
                return str(message["ts"])
        return None

    async def find_job_files(self, channel: str, thread_ts: str, prefix: str) -> list[str]:
        """Ids of files already in the thread whose names start with the job's prefix."""
        found: list[str] = []
        for message in await self._messages(channel, thread_ts, 0.0):
            for item in message.get("files") or []:
                if str(item.get("name", "")).startswith(prefix):
                    found.append(str(item["id"]))
        return found

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
        channel: str | None,
        thread_ts: str | None,
        files: Sequence[UploadFile],
        comment: str | None,
    ) -> list[str]:
        """Upload files in one message (into a thread, when given; nowhere, privately, when no
        channel is given); returns Slack's file ids."""
        uploads = [f.as_upload() for f in files]
        try:
            response = await self.client.files_upload_v2(
                file_uploads=uploads, channel=channel, thread_ts=thread_ts, initial_comment=comment
            )
        except SlackApiError as exc:
            raise SlackError(
                str(exc.response.get("error", "unknown_error")), "files.upload"
            ) from None
        except (SlackRequestError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise SlackError(f"request_failed: {exc!r}"[:200], "files.upload") from None
        return [str(item["id"]) for item in response.get("files") or []]

    async def respond(
        self, response_url: str, text: str, blocks: list[Block] | None = None
    ) -> bool:
        """An ephemeral answer through a command's response_url; False when it did not land."""
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

    async def tell(
        self,
        user: str,
        text: str,
        *,
        response_url: str | None,
        channel: str | None = None,
        blocks: list[Block] | None = None,
    ) -> None:
        """Reach a person privately: the response_url if there is one, else ephemeral, else DM."""
        if response_url and await self.respond(response_url, text, blocks):
            return
        if channel:
            try:
                await self.ephemeral(channel, user, text, blocks=blocks)
                return
            except SlackError as exc:
                log.info("ephemeral to %s in %s failed (%s); sending a DM", user, channel, exc.code)
        await self.dm(user, text, blocks)

    async def download(self, url: str, max_bytes: int) -> bytes:
        """A person's file, fetched with the bot token, which goes to Slack's file hosts only."""
        parts = urlsplit(url)
        if parts.hostname not in self.file_hosts or parts.scheme not in ("https", "http"):
            raise SlackError("untrusted_file_host", "files.download")
        if parts.scheme == "http" and parts.hostname == "files.slack.com":
            raise SlackError("untrusted_file_host", "files.download")
        headers = {"Authorization": f"Bearer {self.client.token}"}
        try:
            async with self._files.stream("GET", url, headers=headers) as response:
                if response.status_code != 200:
                    raise SlackError(f"http_{response.status_code}", "files.download")
                if response.headers.get("content-type", "").startswith("text/html"):
                    raise SlackError("no_file_access", "files.download")
                data = bytearray()
                async for chunk in response.aiter_bytes(1 << 16):
                    data += chunk
                    if len(data) > max_bytes:
                        raise SlackError("file_too_large", "files.download")
                return bytes(data)
        except httpx.HTTPError as exc:
            raise SlackError(f"request_failed: {exc!r}"[:200], "files.download") from None

    async def file_info(self, file_id: str) -> dict[str, Any]:
        data = await self._call("files.info", file=file_id)
        info = data.get("file")
        return dict(info) if isinstance(info, dict) else {}

    async def close(self) -> None:
        await self._files.aclose()
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

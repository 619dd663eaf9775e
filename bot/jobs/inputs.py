"""The images an edit (or an upscale) starts from, as fal will read them: our earlier result's
fal URL while fal still serves it, otherwise the bytes (from Slack, with the bot token) as a
data: URI."""

from __future__ import annotations

import asyncio
import base64
import logging

from bot.domain.images import ImageRejected, prepare_image
from bot.providers.base import ImageProvider
from bot.slack.client import SlackError, SlackOut
from bot.store.records import ImageInput, Job

log = logging.getLogger(__name__)


class InputError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def data_uri(data: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"


class InputResolver:
    def __init__(self, provider: ImageProvider, slack: SlackOut, max_bytes: int) -> None:
        self.provider = provider
        self.slack = slack
        self.max_bytes = max_bytes

    async def resolve(self, job: Job) -> tuple[list[str], str | None]:
        if job.kind == "generate":
            return [], None
        images: list[str] = []
        mask: str | None = None
        for item in job.inputs:
            url = await self._one(item)
            if item.is_mask:
                mask = url
            else:
                images.append(url)
        if not images:
            raise InputError("there is no image to edit")
        return images, mask

    async def _one(self, item: ImageInput) -> str:
        if item.fal_url and await self.provider.is_reachable(item.fal_url):
            return item.fal_url
        if item.fal_url:
            log.info("fal no longer serves %s; sending Slack's copy", item.slack_file_id)
        try:
            url = item.slack_url or await self._file_url(item)
            data = await self.slack.download(url, self.max_bytes)
        except SlackError as exc:
            raise InputError(
                f"I couldn't fetch {item.name or 'the image'} from Slack ({exc.code})"
            ) from None
        # Decoding a photo and encoding it for fal take a CPU for a while: off the event loop,
        # where every other job and every Slack request would wait for them.
        try:
            prepared = await asyncio.to_thread(
                prepare_image, data, name=item.name, max_bytes=self.max_bytes
            )
        except ImageRejected as exc:
            raise InputError(exc.message) from None
        return await asyncio.to_thread(data_uri, prepared.data, prepared.content_type)

    async def _file_url(self, item: ImageInput) -> str:
        if not item.slack_file_id:
            raise InputError("the image to edit is no longer available")
        shared = await self.slack.shared_file(item.slack_file_id)
        if shared is None or not shared.url:
            raise InputError("the image to edit is no longer available in Slack")
        return shared.url

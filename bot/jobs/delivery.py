"""Getting a job's images from fal onto disk, and from disk into the job's Slack thread.

Images are fetched as soon as fal has them (fal keeps results minutes to an hour) and wait in a
spool folder until Slack has them, so a failed or interrupted upload can be retried, after a
restart too. Before an upload is completed its file ids are stored; a resumed job asks Slack
about those ids (Slack shares a completed upload into the thread only after a moment, so the
thread alone can miss it) and looks in the thread for files named with the job id, before
uploading again.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

from bot.providers.base import Generation, ImageProvider, ProviderError
from bot.slack.blockkit import clip_plain
from bot.slack.client import SlackError, SlackOut, UploadFile
from bot.store import Job, ResultImage, Store

log = logging.getLogger("bot.jobs")

# Waits between upload attempts; after the last one the job is reported undeliverable.
UPLOAD_BACKOFF = (1.0, 3.0, 10.0, 30.0, 60.0, 120.0, 300.0)
# slack-sdk reads a whole file into memory to upload it, and every download in progress holds
# its buffers: a few of each at a time keep the bot small however many jobs finish together.
UPLOADS_AT_ONCE = 8
DOWNLOADS_AT_ONCE = 16
# How long a completed upload may take to show in its thread before it counts as not shared.
SHARE_WAIT_SECONDS = 30.0


def image_file_name(job_id: str, index: int, output_format: str) -> str:
    """Names carry the job id: a resumed job finds its files in the thread by name."""
    extension = "jpg" if output_format == "jpeg" else output_format
    return f"{job_file_prefix(job_id)}{index}.{extension}"


def job_file_prefix(job_id: str) -> str:
    return f"imagebot-{job_id}-"


def image_title(job: Job, index: int) -> str:
    prefix = f"{index}/{len(job.images)}: " if len(job.images) > 1 else ""
    return clip_plain(prefix + " ".join(job.prompt.split()), 250) or f"image {index}"


def image_alt_text(job: Job) -> str:
    # files.getUploadURLExternal takes up to 1,000 characters of alt text.
    return clip_plain(" ".join(job.prompt.split()), 1000) or "generated image"


class Undeliverable(Exception):
    def __init__(self, error: SlackError) -> None:
        super().__init__(error.code)
        self.error = error


class Delivery:
    def __init__(self, store: Store, provider: ImageProvider, slack: SlackOut, spool: Path) -> None:
        self.store = store
        self.provider = provider
        self.slack = slack
        self.spool = spool
        self._uploads = asyncio.Semaphore(UPLOADS_AT_ONCE)
        self._downloads = asyncio.Semaphore(DOWNLOADS_AT_ONCE)

    async def fetch(self, job: Job, generation: Generation) -> list[ResultImage]:
        """Download every output image into the job's spool folder."""
        folder = self.spool / job.id
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        images = []
        for index, output in enumerate(generation.images, start=1):
            path = folder / image_file_name(job.id, index, job.request.file_format)
            async with self._downloads:
                size = await self.provider.download(output.url, path)
            images.append(
                ResultImage(
                    url=output.url, content_type=output.content_type, width=output.width,
                    height=output.height, file_name=output.file_name,
                    spool_path=str(path.resolve()), size=size,
                )
            )  # fmt: skip
        return images

    async def deliver(self, job: Job) -> list[str]:
        """Upload the images into the thread, retrying what may pass; Slack's file ids."""
        for attempt, pause in enumerate((*UPLOAD_BACKOFF, None), start=1):
            try:
                return await self._upload(job)
            except SlackError as exc:
                if exc.permanent or pause is None:
                    raise Undeliverable(exc) from None
                log.warning("upload failed job=%s attempt=%d error=%s", job.id, attempt, exc.code)
                await asyncio.sleep(pause)
                job = await self.store.get_job(job.id) or job
        raise AssertionError("unreachable")

    async def _upload(self, job: Job) -> list[str]:
        assert job.card_ts is not None
        thread = job.thread_ts or job.card_ts
        if job.upload_started:
            landed = await self._landed(job, thread)
            if landed is not None:
                log.info("upload had landed before job=%s files=%d", job.id, len(landed))
                return landed
        files = [await self._file(job, index, image) for index, image in enumerate(job.images, 1)]
        async with self._uploads:
            await self.store.mark_upload_started(job.id)

            async def completing(file_ids: list[str]) -> None:
                await self.store.mark_upload_completing(job.id, file_ids)

            return await self.slack.upload(
                job.channel_id, thread, files, None, completing=completing
            )

    async def _landed(self, job: Job, thread: str) -> list[str] | None:
        """The files of an earlier attempt (before a crash, or answered with a 5xx), if Slack
        has them: in the thread by name, or completed under the ids stored before completing."""
        prefix = job_file_prefix(job.id)
        found = await self.slack.find_job_files(job.channel_id, thread, prefix)
        if len(found) >= len(job.images):
            return found
        ids = job.slack_file_ids
        if ids and await self.slack.shared_in(ids, job.channel_id, SHARE_WAIT_SECONDS):
            return ids
        if ids:
            log.warning("earlier upload never showed in its thread job=%s", job.id)
        return None

    async def _file(self, job: Job, index: int, image: ResultImage) -> UploadFile:
        name = image_file_name(job.id, index, job.request.file_format)
        path = Path(image.spool_path) if image.spool_path else self.spool / job.id / name
        if not path.is_file():
            # The spool was lost (a new disk, a cleaned folder): fal may still serve the image.
            try:
                await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
                await self.provider.download(image.url, path)
            except ProviderError:
                raise SlackError("images_lost", "files.upload") from None
        return UploadFile(
            filename=name, title=image_title(job, index), alt_text=image_alt_text(job), path=path
        )

    def drop(self, job_id: str) -> None:
        shutil.rmtree(self.spool / job_id, ignore_errors=True)

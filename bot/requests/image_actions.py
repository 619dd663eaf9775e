"""The buttons under each image of a result: Edit (the dialog, on that image), More like this
and Upscale (bot.jobs.image_offers says what each runs).

Anyone who can see the thread may press them; each is charged to whoever pressed, admitted
against their budget like any request, and lands in the same thread. A button's value names a
job and an image; neither is trusted until the store has that job, delivered, in the channel
the press came from, with that many images. A second press of the same button by the same
person within a few seconds (a double click, or Slack delivering the press again) is the same
press: nothing runs or is charged twice.
"""

from __future__ import annotations

import logging

from bot.jobs.image_offers import ImageOffer, more_like_this, upscale
from bot.requests.controls import GONE, Click
from bot.requests.intake import Intake
from bot.slack.client import SlackOut
from bot.slack.notifier import Notifier
from bot.slack.views.modal import EditOfJob, edit_modal
from bot.store import Job, JobState, Store

log = logging.getLogger(__name__)

# Presses of one button by one person this close together are one press.
SAME_PRESS_SECONDS = 10.0
NO_UPSCALER = "No upscaler is set up in this workspace's models, so I can't upscale images."


class ImageActions:
    def __init__(self, store: Store, intake: Intake, notifier: Notifier, slack: SlackOut) -> None:
        self.store = store
        self.intake = intake
        self.notifier = notifier
        self.slack = slack

    async def edit(self, click: Click, index: int) -> None:
        """Open the Edit dialog on image `index`; the edit is charged to whoever submits it."""
        job = await self._image_of(click, index)
        if job is not None:
            target = EditOfJob(job.id, image_index=index)
            menu = await self.intake.models.menu()
            modal = edit_modal(target, menu, image_count=len(job.images))
            await self.slack.open_view(click.trigger_id, modal)

    async def more_like_this(self, click: Click, index: int) -> None:
        job = await self._image_of(click, index)
        if job is not None and await self._first_press(click, "more", index):
            await self._run(click, job, more_like_this(self.intake.provider.catalog, job, index))

    async def upscale(self, click: Click, index: int) -> None:
        job = await self._image_of(click, index)
        if job is None or not await self._first_press(click, "upscale", index):
            return
        offer = upscale(self.intake.provider.catalog, job, index)
        if offer is None:
            await self.notifier.tell(click.requester, NO_UPSCALER)
            return
        await self._run(click, job, offer)

    async def _image_of(self, click: Click, index: int) -> Job | None:
        job = await self.store.get_job(click.job_id) if click.job_id else None
        if (
            job is None
            or job.state != JobState.DELIVERED
            or job.channel_id != click.channel_id
            or not 1 <= index <= len(job.images)
        ):
            log.info("image button refused user=%s job=%s image=%s", click.user_id, click.job_id,
                     index)  # fmt: skip
            await self.notifier.tell(click.requester, GONE)
            return None
        return job

    async def _first_press(self, click: Click, action: str, index: int) -> bool:
        key = f"image-press:{action}:{click.job_id}:{index}:{click.user_id}"
        if await self.store.claim(key, SAME_PRESS_SECONDS):
            return True
        log.info("same press again ignored key=%s", key)
        return False

    async def _run(self, click: Click, job: Job, offer: ImageOffer) -> None:
        await self.intake.submit(
            click.requester, offer.request, kind=offer.kind, origin="button",
            thread_ts=job.thread_ts or job.card_ts, inputs=offer.inputs, parent_job_id=job.id,
            source_key=f"button:{click.trigger_id}",
        )  # fmt: skip

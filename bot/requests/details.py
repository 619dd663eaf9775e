"""Details: what made an image, told privately to the person who asked (from the card's
Details button or `/image details <link or ts>`). Anyone else is told only that they can't see
it: not even whether the request exists."""

from __future__ import annotations

from bot.providers.catalog import Catalog
from bot.requests.controls import Click
from bot.requests.grammar import message_ref
from bot.slack.notifier import Notifier, Requester
from bot.slack.views.details import NOT_YOURS, details_text
from bot.store import Job, Store

NOT_FOUND = (
    "I can't find a request of yours there. Use `/image details` with the link of a request's"
    " card or thread (*Copy link* on the message), or the thread's ts."
)


class Details:
    def __init__(self, store: Store, catalog: Catalog, notifier: Notifier) -> None:
        self.store = store
        self.catalog = catalog
        self.notifier = notifier

    async def from_button(self, click: Click) -> None:
        job = await self.store.get_job(click.job_id) if click.job_id else None
        await self.show(click.requester, job)

    async def from_command(self, who: Requester, argument: str) -> None:
        ref = message_ref(argument)
        if ref is None:
            await self.notifier.tell(who, NOT_FOUND)
            return
        channel = ref.channel_id or who.channel_id
        job = await self.store.card_job(channel, ref.ts)
        for thread in filter(None, (ref.thread_ts, ref.ts)):
            if job is None:
                job = await self.store.latest_in_thread(channel, thread, delivered_only=False)
        if job is None:
            await self.notifier.tell(who, NOT_FOUND)
            return
        await self.show(who, job)

    async def show(self, who: Requester, job: Job | None) -> None:
        if job is None or job.user_id != who.user_id:
            await self.notifier.tell(who, NOT_YOURS)
            return
        profile = self.catalog.profiles.get(job.request.model)
        label = profile.label if profile is not None else job.request.model
        sent = await self.store.sent_arguments(job.id)
        text, blocks = details_text(job, label, sent)
        await self.notifier.tell(who, text, blocks)

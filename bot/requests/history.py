"""History: `/image history [words]`, a person's last requests (only theirs), newest first,
each with its thread link, model and cost, told privately."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.providers.catalog import Catalog
from bot.slack.links import ThreadLinks
from bot.slack.notifier import Notifier, Requester
from bot.slack.views.history import history_text
from bot.store import Store

HISTORY_SIZE = 20


class History:
    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        links: ThreadLinks,
        notifier: Notifier,
        zone: ZoneInfo,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.links = links
        self.notifier = notifier
        self.zone = zone

    def label(self, model: str) -> str:
        profile = self.catalog.profiles.get(model)
        return profile.label if profile is not None else model

    async def show(self, who: Requester, words_text: str) -> None:
        words = words_text.split()
        jobs = await self.store.requests_of(who.user_id, words, HISTORY_SIZE)
        links = await self.links.maker()
        text, blocks = history_text(
            jobs,
            words,
            self.zone,
            self.label,
            lambda job: links.thread(job.channel_id, job.thread_ts),
        )
        await self.notifier.tell(who, text, blocks)

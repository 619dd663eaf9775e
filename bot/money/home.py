"""Publishing the App Home tab (drawn by bot.slack.views.home): a person's own usage, the models,
thumbnails of their own latest results; for admins also the team's month and a spend chart.

Slack shows an image block's `slack_file` only to a viewer who can see the file: one uploaded
without a channel is refused ("invalid slack file": python-slack-sdk#1658, bolt-python#1251),
and a fresh upload is listed as shared only after a moment (python-slack-sdk#1521). So each
admin's chart is shared into their DM with the bot and shown once Slack lists that share. A
chart is named after the month's spend per day and reused while that is unchanged (and for
ten minutes at least); the chart a new one replaces is deleted, so an admin has one at a time.
The tab is published at once without the chart and again when it is ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date

from bot.domain.periods import Period
from bot.money.budgets import Budgets
from bot.money.reports import spend_chart_png
from bot.money.spend import Spend
from bot.slack.admins import Admins
from bot.slack.blockkit import Block
from bot.slack.client import SlackError, SlackOut, UploadFile
from bot.slack.links import ThreadLinks
from bot.slack.views.history import thumbnail_blocks
from bot.slack.views.home import home_view, models_blocks, team_blocks
from bot.slack.views.menus import Menu
from bot.store import Store

log = logging.getLogger(__name__)
CHART_SECONDS = 600.0
CHART_PREFIX = "imagebot-spend-"
# How long a new chart may take to be listed as shared before the tab goes without it.
SHARE_WAIT_SECONDS = 10.0
# How many of a person's latest results App Home shows.
THUMBNAILS = 6


@dataclass(frozen=True)
class Chart:
    """An admin's chart file: which month and spend it shows, and when it was made."""

    key: str
    file_id: str
    made: float = 0.0


class Home:
    def __init__(
        self,
        spend: Spend,
        budgets: Budgets,
        admins: Admins,
        store: Store,
        slack: SlackOut,
        menu: Callable[[], Awaitable[Menu]],
        links: ThreadLinks,
    ) -> None:
        self.spend = spend
        self.menu = menu
        self.links = links
        self.budgets = budgets
        self.admins = admins
        self.store = store
        self.slack = slack
        self._charts: dict[str, Chart] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def publish(self, user_id: str) -> None:
        _, mine = await self.spend.usage(user_id)
        admin = await self.admins.is_admin(user_id)
        team = await self._team_blocks() if admin else []
        models = models_blocks(await self.menu())
        thumbs = await self._thumbnails(user_id)
        try:
            await self.slack.publish_home(user_id, home_view(mine, team, models, thumbs=thumbs))
        except SlackError as exc:
            if not thumbs:
                raise
            # A file Slack would not show this person (a channel they left): go without.
            log.warning("App Home thumbnails refused for %s: %s", user_id, exc.code)
            thumbs = []
            await self.slack.publish_home(user_id, home_view(mine, team, models))
        if admin:
            file_id = await self._chart(user_id)
            if file_id is None:
                return
            try:
                view = home_view(mine, team, models, file_id, thumbs=thumbs)
                await self.slack.publish_home(user_id, view)
            except SlackError as exc:
                # Slack would not show the file: make a new one next time.
                log.warning("App Home chart refused for %s: %s", user_id, exc.code)
                self._charts.pop(user_id, None)

    async def _thumbnails(self, user_id: str) -> list[Block]:
        """The person's own latest results, each linked to its thread."""
        results = await self.store.results_of(user_id, THUMBNAILS)
        if not results:
            return []
        links = await self.links.maker()
        return thumbnail_blocks(results, links.of)

    async def _team_blocks(self) -> list[Block]:
        month = self.budgets.month()
        report = await self.spend.report(month, "user", names=False)
        return team_blocks(report, await self.budgets.of_team(), month.label)

    async def _chart(self, admin: str) -> str | None:
        """The file id of the admin's chart of this month's spend, shared where they see it."""
        async with self._locks[admin]:
            month = self.budgets.month()
            days = await self.store.daily_spend(month, self.budgets.zone)
            key = chart_key(month, days)
            known = self._charts.get(admin) or await self._earlier_chart(admin)
            fresh = known is not None and time.monotonic() - known.made < CHART_SECONDS
            if known is not None and (known.key == key or fresh):
                self._charts[admin] = known
                return known.file_id
            try:
                dm = await self.slack.open_dm(admin)
                made = await self._upload(dm, month, days, key)
            except (SlackError, ValueError) as exc:
                log.warning("spend chart upload failed: %s", exc)
                return known.file_id if known else None
            self._charts[admin] = made
            if known is not None:
                await self._delete(known.file_id)
            try:
                shown = await self.slack.shared_in([made.file_id], dm, SHARE_WAIT_SECONDS)
            except SlackError as exc:
                log.warning("could not see the new chart's share: %s", exc.code)
                shown = False
            return made.file_id if shown else None

    async def _upload(
        self, dm: str, month: Period, days: list[tuple[date, int]], key: str
    ) -> Chart:
        png = await asyncio.to_thread(spend_chart_png, days, f"Image spend, {month.label}")
        title = f"Team image spend, {month.label} (for your imagebot App Home)"
        upload = UploadFile(filename=f"{CHART_PREFIX}{key}.png", title=title, content=png)
        (file_id,) = await self.slack.upload(dm, None, [upload], None)
        return Chart(key, file_id, time.monotonic())

    async def _earlier_chart(self, admin: str) -> Chart | None:
        """After a restart: the chart an earlier run shared into the admin's DM (the newest;
        any older ones are deleted)."""
        try:
            dm = await self.slack.open_dm(admin)
            found = await self.slack.find_own_files(dm, CHART_PREFIX)
        except SlackError as exc:
            log.info("could not look for an earlier chart of %s: %s", admin, exc.code)
            return None
        if not found:
            return None
        for file_id, _ in found[1:]:
            await self._delete(file_id)
        file_id, name = found[0]
        return Chart(name.removeprefix(CHART_PREFIX).removesuffix(".png"), file_id)

    async def _delete(self, file_id: str) -> None:
        with contextlib.suppress(SlackError):
            await self.slack.delete_file(file_id)


def chart_key(month: Period, days: list[tuple[date, int]]) -> str:
    """Names a chart by its month and the spend it shows."""
    digest = hashlib.sha256(repr(days).encode()).hexdigest()[:12]
    return f"{month.start:%Y-%m}-{digest}"

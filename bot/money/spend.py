"""What people see of their spend: their own usage (`/image-usage`, the App Home) and spend
reports with the names people go by, which are also remembered for reports made outside Slack."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.config import Settings
from bot.domain.periods import Period
from bot.money.budgets import Budgets
from bot.slack.blockkit import Block
from bot.slack.client import SlackError, SlackOut
from bot.slack.views.usage import usage_message
from bot.store import Store
from bot.store.ledger import Grouping
from bot.store.report import Report

log = logging.getLogger(__name__)

# A person's display name is looked up again after this long (people rename themselves).
NAME_REFRESH = timedelta(days=30)
RECENT_REQUESTS = 5


class Spend:
    def __init__(self, settings: Settings, store: Store, slack: SlackOut, budgets: Budgets) -> None:
        self.zone = settings.zone
        self.store = store
        self.slack = slack
        self.budgets = budgets

    async def usage(self, user_id: str) -> tuple[str, list[Block]]:
        """A person's month: spent against their budget, images, held, recent requests."""
        month = self.budgets.month()
        return usage_message(
            month=month,
            usage=await self.store.usage(user_id, month),
            budget=await self.budgets.of_user(user_id),
            resets=self.budgets.resets(),
            recent=await self.store.recent_charges(user_id, RECENT_REQUESTS),
            zone=self.zone,
            demo=await self.demo_priced(month, user_id),
        )

    async def demo_priced(self, period: Period, user_id: str | None = None) -> bool:
        """Whether the mock provider billed any of the amounts of the period."""
        return bool(await self.store.demo_micros(period, user_id))

    async def report(self, period: Period, by: Grouping, *, names: bool = True) -> Report:
        """Settled spend of the period grouped `by`; with the names Slack has for people."""
        report = await self.store.report(period, by, self.zone)
        if not names:
            return report
        named = await self._names({row.user_id for row in report.rows})
        return report.named(named)

    async def _names(self, users: set[str]) -> dict[str, str]:
        """Names as Slack has them now (remembered for `imagebot report`), else as last seen."""
        names = await self.store.names()
        for user in sorted(users):
            name = await self._look_up(user)
            if name:
                names[user] = name
        return names

    async def _look_up(self, user: str) -> str:
        try:
            info = await self.slack.user_info(user)
        except SlackError as exc:
            log.info("users.info failed for %s: %s", user, exc.code)
            return ""
        profile = info.get("profile") or {}
        name = str(profile.get("display_name") or info.get("real_name") or info.get("name") or "")
        if name:
            await self.store.remember_name(user, name)
        return name

    async def learn_name(self, user: str) -> None:
        """Remember who spent, for reports made outside Slack (once a month at most)."""
        seen = await self.store.name_seen_at(user)
        if seen is None or self.store.clock() - seen > NAME_REFRESH:
            await self._look_up(user)

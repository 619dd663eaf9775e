"""Notices about money, each sent once: a person at 80% of their monthly budget, the admins at 80%
and 100% of the team's, and the admins when fal refuses the bot's account (once an hour)."""

from __future__ import annotations

from bot.domain.usd import format_usd
from bot.money.budgets import Budgets
from bot.money.spend import Spend
from bot.slack.admins import Admins
from bot.slack.notifier import Notifier, Requester
from bot.store import Job, Store


class Notices:
    def __init__(
        self, store: Store, notifier: Notifier, admins: Admins, spend: Spend, budgets: Budgets
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.admins = admins
        self.spend = spend
        self.budgets = budgets

    async def after_settle(self, job: Job) -> None:
        """Tell a person at 80% of their budget, and admins at 80% and 100% of the team's."""
        await self.spend.learn_name(job.user_id)
        month = self.budgets.month(job.created_at)
        key = f"{month.start:%Y-%m}"
        budget = await self.budgets.of_user(job.user_id)
        if budget:
            usage = await self.store.usage(job.user_id, month)
            used = usage.spent_micros + usage.held_micros
            if used >= budget * 0.8 and await self.store.claim_notice(
                f"user80:{job.user_id}:{key}"
            ):
                await self._dm(job.user_id, _user_notice(used, budget))
        team = await self.budgets.of_team()
        if team:
            spent = await self.store.team_spend_micros(month)
            for percent in (100, 80):
                if spent >= team * percent / 100:
                    # Past 100% the 80% notice would only be stale news: claim it too.
                    fresh = [await self.store.claim_notice(f"team{p}:{key}") for p in (percent, 80)]
                    if fresh[0]:
                        for admin in await self.admins.ids():
                            await self._dm(admin, _team_notice(percent, spent, team))
                    break

    async def account_locked(self, detail: str) -> None:
        """fal refused the account: admins hear it at most once an hour."""
        hour = self.store.clock().astimezone(self.budgets.zone)
        if not await self.store.claim_notice(f"locked:{hour:%Y-%m-%dT%H}"):
            return
        text = (
            "fal refused imagebot's account, so image requests are failing. It may be locked or"
            f" out of balance; check fal's billing page. fal said: {detail[:300]}"
        )
        for admin in await self.admins.ids():
            await self._dm(admin, text)

    async def _dm(self, user_id: str, text: str) -> None:
        await self.notifier.tell(Requester(user_id), text)


def _user_notice(used: int, budget: int) -> str:
    return (
        f"Heads up: you've used {used / budget:.0%} of your monthly image budget"
        f" ({format_usd(used)} of {format_usd(budget)}). `/image-usage` shows the details."
    )


def _team_notice(percent: int, spent: int, budget: int) -> str:
    figures = f"({format_usd(spent)} of {format_usd(budget)})"
    if percent >= 100:
        return (
            f"The team's monthly image budget is used up {figures}: new requests are refused"
            " until next month or until an admin raises it."
        )
    return f"The team has used {spent / budget:.0%} of its monthly image budget {figures}."

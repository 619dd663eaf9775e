"""Monthly budgets: the one place that says which budget applies (an admin's figure in the
database, else the configured default), which month counts, and that admits a job against
them. The precedence itself is the store's (bot.store.admission), inside the transaction that
holds the estimate."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from bot.config import Settings
from bot.domain.periods import Period, month_of, next_month_start
from bot.domain.usd import to_micros
from bot.store import Admission, NewJob, Store


class Budgets:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.store = store
        self.zone = settings.zone
        self.user_default = _micros(settings.user_monthly_budget)
        self.team_default = _micros(settings.team_monthly_budget)

    def month(self, moment: datetime | None = None) -> Period:
        """The budget month (in the team's time zone) of `moment`, by default now."""
        return month_of(moment or self.store.clock(), self.zone)

    def resets(self) -> date:
        """The local date this month's budgets reset on."""
        return next_month_start(self.store.clock(), self.zone)

    async def of_user(self, user_id: str) -> int | None:
        return await self.store.budget_for("user", user_id, self.user_default)

    async def of_team(self) -> int | None:
        return await self.store.budget_for("team", "", self.team_default)

    async def admit(self, new: NewJob) -> Admission:
        """Write the job and hold its estimate in this month, unless that passes a budget."""
        return await self.store.admit(
            new,
            month=self.month().bounds(),
            user_budget_micros=self.user_default,
            team_budget_micros=self.team_default,
        )


def _micros(usd: Decimal | None) -> int | None:
    return None if usd is None else to_micros(usd)

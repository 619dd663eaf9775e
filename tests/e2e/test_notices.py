"""Budget notices follow the calendar: a person hears of 80% once a month, every month; admins
hear of the team's 80% and 100% once each a month, and never of 80% after 100%."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.harness import RunningBot, bot_env, running_bot
from bot.testing.slack.standin import SlackStandIn
from tests.helpers import SetClock

ADMIN = "U0ADMIN"
NOVEMBER = datetime(2026, 11, 20, 12, tzinfo=UTC)
DECEMBER = datetime(2026, 12, 20, 12, tzinfo=UTC)


@pytest.fixture
def start(slack: SlackStandIn, fal: FalStandIn, tmp_path: Path) -> Callable[..., Any]:
    slack.add_user(ADMIN, "ada")
    fal.default = FalBehaviour(run_seconds=0.1, billable_units=Decimal("0.0421"))

    def make(clock: SetClock, **budgets: str) -> Any:
        env = bot_env(slack, tmp_path, FAL_KEY=fal.key, IMAGEBOT_ADMINS=ADMIN, **budgets)
        return running_bot(slack, env, clock=clock)

    return make


async def image(bot: RunningBot, number: int) -> None:
    """One request that settles at $0.0421, and its notices sent."""
    await bot.driver.command("/image", f"a kite {number} --quality low")
    async with asyncio.timeout(30):
        while True:
            await bot.idle()
            jobs = await bot.store.jobs()
            if len(jobs) > number and all(j.finished and j.card_done for j in jobs):
                return
            await asyncio.sleep(0.05)


def dms(slack: SlackStandIn, user: str) -> list[str]:
    return [
        c.args["text"]
        for c in slack.calls_to("chat.postMessage")
        if c.args["channel"].startswith("D") and slack.channel(c.args["channel"]).user == user
    ]


async def test_the_80_percent_notices_come_again_the_next_month(
    start: Callable[..., Any], slack: SlackStandIn
) -> None:
    clock = SetClock(NOVEMBER)
    budgets = {"IMAGEBOT_USER_MONTHLY_BUDGET": "0.10", "IMAGEBOT_TEAM_MONTHLY_BUDGET": "0.10"}
    async with start(clock, **budgets) as bot:
        for number in range(2):  # 42%, then 84% of both budgets
            await image(bot, number)
        clock.now = DECEMBER
        for number in range(2, 4):
            await image(bot, number)

    assert [text[:40] for text in dms(slack, "U0ALICE")] == [
        "Heads up: you've used 84% of your monthl",
    ] * 2
    assert [text[:35] for text in dms(slack, ADMIN)] == ["The team has used 84% of its monthl"] * 2


async def test_past_100_percent_at_once_only_the_100_percent_notice_is_sent(
    start: Callable[..., Any], slack: SlackStandIn
) -> None:
    clock = SetClock(NOVEMBER)
    async with start(clock, IMAGEBOT_TEAM_MONTHLY_BUDGET="0.04") as bot:
        await image(bot, 0)  # 105% of the team's budget in one step
        await bot.driver.command("/image-admin", "budget team 0.10", user=ADMIN)
        await image(bot, 1)  # 84% of the raised budget: the 80% news is stale by now

    (notice,) = dms(slack, ADMIN)
    assert "used up" in notice

"""The App Home tab for admins: the spend chart is a file Slack would show to that admin (shared
in their DM with the bot), and it is reused rather than uploaded again on every visit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.money import home
from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.harness import RunningBot, bot_env, running_bot
from bot.testing.slack.standin import SlackStandIn

ADMIN = "U0ADMIN"


@pytest.fixture
def env(slack: SlackStandIn, fal: FalStandIn, tmp_path: Path) -> dict[str, str]:
    slack.add_user(ADMIN, "ada")
    fal.default = FalBehaviour(run_seconds=0.1, billable_units=Decimal("0.0421"))
    return bot_env(slack, tmp_path, FAL_KEY=fal.key, IMAGEBOT_ADMINS=ADMIN)


@pytest.fixture
async def bot(slack: SlackStandIn, env: dict[str, str]) -> AsyncIterator[RunningBot]:
    async with running_bot(slack, env) as running:
        yield running


async def spend(bot: RunningBot, prompt: str) -> None:
    await bot.driver.command("/image", f"{prompt} --quality low")
    async with asyncio.timeout(30):
        while not all(j.finished and j.card_done for j in await bot.store.jobs()):
            await asyncio.sleep(0.05)


async def open_home(bot: RunningBot, slack: SlackStandIn, user: str = ADMIN) -> dict[str, Any]:
    await bot.driver.event({"type": "app_home_opened", "user": user, "tab": "home"})
    await bot.idle()
    published = [v for v in slack.views if v.method == "views.publish" and v.user_id == user]
    return published[-1].view


def chart_of(view: dict[str, Any]) -> str:
    (image,) = [b for b in view["blocks"] if b["type"] == "image"]
    return str(image["slack_file"]["id"])


def charts(slack: SlackStandIn) -> list[dict[str, Any]]:
    return [f for f in slack.files if f["name"].startswith("imagebot-spend-")]


async def test_the_chart_is_a_file_shared_with_the_admin_and_reused(
    bot: RunningBot, slack: SlackStandIn
) -> None:
    await spend(bot, "a lamp")

    first = await open_home(bot, slack)
    second = await open_home(bot, slack)

    # The stand-in refuses a slack_file the viewer cannot see: these views were accepted.
    assert chart_of(first) == chart_of(second)
    (chart,) = charts(slack)  # one day of spend: one chart
    assert chart["id"] == chart_of(second) and chart["ims"]
    assert slack.channel(chart["ims"][0]).user == ADMIN
    assert len([u for u in slack.uploads if u.filename.startswith("imagebot-spend-")]) == 1


async def test_a_new_chart_replaces_the_old_one_when_spend_changes(
    bot: RunningBot, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(home, "CHART_SECONDS", 0.0)
    await spend(bot, "a lamp")
    before = chart_of(await open_home(bot, slack))

    await spend(bot, "another lamp")
    after = chart_of(await open_home(bot, slack))

    assert after != before
    assert [c["id"] for c in charts(slack)] == [after]  # the old one is deleted


async def test_after_a_restart_the_chart_in_the_dm_is_reused(
    slack: SlackStandIn, env: dict[str, str]
) -> None:
    async with running_bot(slack, env) as first:
        await spend(first, "a lamp")
        shown = chart_of(await open_home(first, slack))
    async with running_bot(slack, env) as second:
        again = chart_of(await open_home(second, slack))

    assert again == shown and len(charts(slack)) == 1


async def test_people_who_are_not_admins_get_no_chart(bot: RunningBot, slack: SlackStandIn) -> None:
    await spend(bot, "a lamp")

    view = await open_home(bot, slack, "U0BOB")

    assert [b for b in view["blocks"] if b["type"] == "image"] == [] and charts(slack) == []

"""Who is an admin: the ids in IMAGEBOT_ADMINS always; the workspace's admins and owners only
when IMAGEBOT_WORKSPACE_ADMINS_ARE_ADMINS is true; every other member never."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.slack.admins import Admins
from bot.slack.client import SlackOut, make_client
from bot.testing.harness import bot_env, running_bot
from bot.testing.slack.standin import SlackStandIn

REFUSED = "Only imagebot admins can use `/image-admin`."


@pytest.fixture
async def slack_out(slack: SlackStandIn) -> AsyncIterator[SlackOut]:
    slack.add_user("U0WSADMIN", "wanda", is_admin=True)
    slack.add_user("U0OWNER", "olga", is_owner=True)
    out = SlackOut(make_client(slack.bot_token, slack.api_url))
    yield out
    await out.close()


@pytest.mark.parametrize("workspace_admins", [False, True])
async def test_who_is_an_admin(
    slack: SlackStandIn, slack_out: SlackOut, workspace_admins: bool
) -> None:
    settings = Settings.model_validate(
        {"IMAGEBOT_ADMINS": "U0ALICE",
         "IMAGEBOT_WORKSPACE_ADMINS_ARE_ADMINS": str(workspace_admins).lower()}
    )  # fmt: skip
    admins = Admins(settings, slack_out)
    verdicts = {
        user: await admins.is_admin(user) for user in ("U0ALICE", "U0WSADMIN", "U0OWNER", "U0BOB")
    }
    assert verdicts == {
        "U0ALICE": True,
        "U0WSADMIN": workspace_admins,
        "U0OWNER": workspace_admins,
        "U0BOB": False,
    }
    # Without the setting Slack is not even asked.
    assert bool(slack.calls_to("users.info")) is workspace_admins


async def test_a_member_is_refused_whatever_slack_says_about_admins(
    slack: SlackStandIn, slack_out: SlackOut
) -> None:
    slack.fail("users.info", "user_not_found", times=None)
    settings = Settings.model_validate({"IMAGEBOT_WORKSPACE_ADMINS_ARE_ADMINS": "true"})
    assert not await Admins(settings, slack_out).is_admin("U0WSADMIN")


@pytest.mark.parametrize("workspace_admins", [False, True])
async def test_workspace_admins_see_team_spend_only_when_allowed(
    slack: SlackStandIn, tmp_path: Path, workspace_admins: bool
) -> None:
    slack.add_user("U0WSADMIN", "wanda", is_admin=True)
    env = bot_env(
        slack, tmp_path, IMAGEBOT_PROVIDER="mock",
        IMAGEBOT_WORKSPACE_ADMINS_ARE_ADMINS=str(workspace_admins).lower(),
    )  # fmt: skip
    async with running_bot(slack, env) as bot:
        for user in ("U0WSADMIN", "U0BOB"):
            await bot.driver.command("/image-admin", "report", user=user)
            await bot.idle()
    answers = [r.body["text"] for r in slack.responses]
    assert answers[1] == REFUSED  # a member, either way
    assert (answers[0] != REFUSED and "Spend" in answers[0]) is workspace_admins

"""The model and style menus: in the Edit dialog, and on App Home where they open the New image
dialog preset. What they choose is applied and refused exactly like `--model` and `--style`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.slack.views.card import ACTION_EDIT
from bot.slack.views.home import HOME_STYLE_ACTION
from bot.store import Job
from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.harness import RunningBot, bot_env, running_bot
from bot.testing.slack.models import ViewCall
from bot.testing.slack.standin import SlackStandIn
from tests.e2e.test_choices import ADMIN, LORA, admin_says, billed

SEEDREAM_EDIT = "fal-ai/bytedance/seedream/v4.5/edit"


@pytest.fixture
async def bot(slack: SlackStandIn, fal: FalStandIn, tmp_path: Path) -> AsyncIterator[RunningBot]:
    fal.default = FalBehaviour(run_seconds=0.1, billable_units=Decimal("0.0421"))
    env = bot_env(slack, tmp_path, FAL_KEY=fal.key, IMAGEBOT_ADMINS=ADMIN)
    async with running_bot(slack, env) as running:
        yield running


async def opened_dialog(slack: SlackStandIn, before: int) -> ViewCall:
    opened = await slack.wait_for(
        lambda: [v for v in slack.views if v.method == "views.open"][before:] or None
    )
    return opened[0]


def menu_values(view: dict[str, Any], block_id: str) -> list[str]:
    (block,) = [b for b in view["blocks"] if b.get("block_id") == block_id]
    return [option["value"] for option in block["element"]["options"]]


async def edit_dialog_with_a_style(bot: RunningBot, slack: SlackStandIn) -> tuple[Job, ViewCall]:
    """A delivered image, a style `label` on Seedream, and the image's Edit dialog opened."""
    first = await bot.delivered("a tea tin")
    await admin_says(bot, slack, 'style add label --model seedream --prefix "Tea label:"')
    await bot.driver.press(ACTION_EDIT, first.id, message_ts=first.card_ts or "")
    return first, await opened_dialog(slack, 0)


async def test_the_edit_dialog_runs_the_chosen_model_with_the_chosen_style(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    first, dialog = await edit_dialog_with_a_style(bot, slack)
    assert "seedream" in menu_values(dialog.view, "model")
    assert menu_values(dialog.view, "style") == ["label"]

    await bot.driver.submit_view(
        dialog.view | {"id": dialog.view_id},
        {"instruction": "in three languages", "model": "seedream", "style": "label"},
    )
    jobs = await bot.finished(2)

    (record,) = fal.submits_for(SEEDREAM_EDIT)
    assert record.arguments["prompt"] == "Tea label: in three languages"
    assert record.arguments["image_urls"] == [first.images[0].url]
    assert jobs[1].request.model == "seedream" and jobs[1].request.style == "label"
    assert jobs[1].amount_micros == billed(record)


async def test_a_model_denied_after_the_dialog_opened_is_refused_in_the_dialog(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    _, dialog = await edit_dialog_with_a_style(bot, slack)
    await admin_says(bot, slack, "model deny seedream")

    submitted = dialog.view | {"id": dialog.view_id}
    by_model = await bot.driver.submit_view(
        submitted, {"instruction": "brighter", "model": "seedream"}
    )
    by_style = await bot.driver.submit_view(
        submitted, {"instruction": "brighter", "style": "label"}
    )
    await bot.idle()

    assert by_model.json() == {
        "response_action": "errors",
        "errors": {"model": "`seedream` isn't allowed in this workspace now: pick another model."},
    }
    assert by_style.json()["errors"] == {"style": "There's no style `label` now: pick another."}
    assert len(fal.requests) == 1 and len(await bot.store.jobs()) == 1


async def test_app_home_names_the_default_and_its_style_menu_opens_a_new_image_preset(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    await admin_says(bot, slack, f"style add brand --model flux-lora --lora {LORA}:0.8")
    await bot.driver.event({"type": "app_home_opened", "user": "U0BOB", "tab": "home"})
    await bot.idle()
    (home,) = [v for v in slack.views if v.method == "views.publish"]
    assert "the default is GPT Image 2 (`gpt-image-2`)" in str(home.view["blocks"])

    await bot.driver.pick(home, HOME_STYLE_ACTION, "brand", user="U0BOB")
    dialog = await opened_dialog(slack, 0)
    (style,) = [b for b in dialog.view["blocks"] if b.get("block_id") == "style"]
    assert style["element"]["initial_option"]["value"] == "brand"
    await bot.driver.submit_view(
        dialog.view | {"id": dialog.view_id},
        {"instruction": "a banner for the spring sale", "channel": "C0GENERAL", "style": "brand"},
        user="U0BOB",
    )
    (job,) = await bot.finished(1)

    (record,) = fal.submits_for("fal-ai/flux-lora")
    assert record.arguments["loras"] == [{"path": LORA, "scale": 0.8}]
    assert job.user_id == "U0BOB" and job.channel_id == "C0GENERAL"
    assert job.amount_micros == billed(record)

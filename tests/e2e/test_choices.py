"""Choosing models: workspace and channel defaults, allow and deny, styles with LoRA adapters,
`--draft` then Final, `/image models`, and an operator's models file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.domain.periods import date_range
from bot.domain.usd import to_micros
from bot.slack.views.card import ACTION_FINAL
from bot.store import JobState
from bot.testing.fal.models import UNIT_PRICES
from bot.testing.fal.standin import FalBehaviour, FalRecord, FalStandIn
from bot.testing.harness import RunningBot, bot_env, running_bot
from bot.testing.slack.standin import SlackStandIn
from tests.e2e.test_start import failed_start
from tests.helpers import free_port

ADMIN = "U0ADMIN"
UTC_ZONE = ZoneInfo("UTC")
LORA = "https://huggingface.co/acme/brand-lora/resolve/main/brand.safetensors"


@pytest.fixture
async def bot(slack: SlackStandIn, fal: FalStandIn, tmp_path: Path) -> AsyncIterator[RunningBot]:
    fal.default = FalBehaviour(run_seconds=0.1, billable_units=Decimal("0.0421"))
    env = bot_env(slack, tmp_path, FAL_KEY=fal.key, IMAGEBOT_ADMINS=ADMIN)
    async with running_bot(slack, env) as running:
        yield running


async def admin_says(bot: RunningBot, slack: SlackStandIn, text: str, user: str = ADMIN) -> str:
    before = len(slack.responses)
    await bot.driver.command("/image-admin", text, user=user)
    await bot.idle()
    assert len(slack.responses) > before
    return str(slack.responses[-1].body["text"])


def billed(record: FalRecord) -> int:
    assert record.units is not None
    return to_micros(record.units * UNIT_PRICES[record.endpoint_id])


async def test_channel_default_then_workspace_default_and_model_overrides_both(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    slack.add_channel("C0DESIGN", "design")
    told = await admin_says(bot, slack, "model default seedream")
    assert "default model is now Seedream 4.5" in told
    await admin_says(bot, slack, "model channel <#C0DESIGN|design> nano-banana-pro")

    await bot.driver.command("/image", "a poster", channel="C0DESIGN")
    await bot.finished(1)
    await bot.driver.command("/image", "a poster", channel="C0GENERAL")
    await bot.finished(2)
    await bot.driver.command("/image", "a poster --model flux-2", channel="C0DESIGN")
    await bot.finished(3)

    assert [r.endpoint_id for r in fal.requests] == [
        "fal-ai/nano-banana-pro",
        "fal-ai/bytedance/seedream/v4.5/text-to-image",
        "fal-ai/flux-2-pro",
    ]


async def test_a_denied_model_is_refused_and_allow_brings_it_back(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    await admin_says(bot, slack, "model deny flux-2")
    await bot.driver.command("/image", "a fox --model flux-2")
    await bot.idle()
    assert "isn't allowed in this workspace" in slack.responses[-1].body["text"]
    assert fal.requests == []

    await bot.driver.command("/image", "models")
    await bot.idle()
    listing = slack.responses[-1].body["text"]
    assert "`seedream`" in listing and "`flux-2`" not in listing

    await admin_says(bot, slack, "model allow flux-2")
    await bot.driver.command("/image", "a fox --model flux-2")
    (job,) = await bot.finished(1)
    assert job.endpoint_id == "fal-ai/flux-2-pro"


async def test_image_models_lists_what_each_model_does_and_a_price(
    bot: RunningBot, slack: SlackStandIn
) -> None:
    await bot.driver.command("/image", "models")
    await bot.idle()
    listing = slack.responses[-1].body["text"]
    for name in ("gpt-image-2", "flux-2", "seedream", "nano-banana-pro", "flux-lora"):
        assert f"`{name}`" in listing
    assert "text-to-image, edit, mask, up to 16 references" in listing
    assert "`--ar` auto, 21:9" in listing and "LoRA" in listing and "e.g. $" in listing


async def test_a_style_sends_its_loras_exactly_and_only_admins_add_styles(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    add = f'style add brand --model flux-lora --lora <{LORA}>:0.8 --prefix "Acme brand:" --size square'
    told = await admin_says(bot, slack, add, user="U0ALICE")
    assert told == "Only admins can change models and styles."
    told = await admin_says(bot, slack, add)
    assert told.startswith("Saved the style: *brand*: `flux-lora`")

    await bot.driver.command("/image", "a banner for the spring sale --style brand", user="U0BOB")
    (job,) = await bot.finished(1)

    (record,) = fal.submits_for("fal-ai/flux-lora")
    assert record.arguments["loras"] == [{"path": LORA, "scale": 0.8}]
    assert record.arguments["prompt"] == "Acme brand: a banner for the spring sale"
    assert record.arguments["image_size"] == {"width": 1024, "height": 1024}
    assert job.request.style == "brand" and job.amount_micros == billed(record)

    await bot.driver.command("/image", "styles")
    await bot.idle()
    assert "*brand*: `flux-lora`" in slack.responses[-1].body["text"]


async def test_a_style_whose_model_is_denied_cannot_be_used(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    await admin_says(bot, slack, f"style add brand --model flux-lora --lora {LORA}")
    await admin_says(bot, slack, "model deny flux-lora")

    await bot.driver.command("/image", "a banner --style brand")
    await bot.idle()

    assert "isn't allowed in this workspace" in slack.responses[-1].body["text"]
    assert fal.requests == [] and await bot.store.jobs() == []


async def test_a_lora_on_a_model_without_loras_is_refused_when_the_style_is_added(
    bot: RunningBot, slack: SlackStandIn
) -> None:
    told = await admin_says(bot, slack, f"style add brand --model seedream --lora {LORA}")
    assert "Seedream 4.5 takes no LoRA adapters" in told
    assert await bot.store.styles() == []


async def test_draft_then_final_two_jobs_in_one_thread_each_charged_as_billed(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    await bot.driver.command("/image", "a poster for Friday --draft")
    (draft,) = await bot.finished(1)
    (draft_record,) = fal.submits_for("fal-ai/z-image/turbo")
    assert draft.request.model == "z-image-turbo" and draft.user_id == "U0ALICE"
    assert draft.amount_micros == billed(draft_record)
    card = str(slack.calls_to("chat.update")[-1].args["blocks"])
    assert "Final: GPT Image 2 · high · ~$0.15" in card

    await bot.driver.press(ACTION_FINAL, draft.id, message_ts=draft.card_ts or "", user="U0BOB")
    final = (await bot.finished(2))[1]

    (final_record,) = fal.submits_for("openai/gpt-image-2")
    assert final_record.arguments["prompt"] == "a poster for Friday"
    assert final_record.arguments["quality"] == "high"
    assert final.state == JobState.DELIVERED and final.thread_ts == draft.thread_ts
    assert final.user_id == "U0BOB" and final.request.model == "gpt-image-2"
    assert final.amount_micros == billed(final_record) == 42_100
    assert draft.amount_micros != final.amount_micros


MODELS_FILE = """
[roles]
draft = "flux-schnell"

[models.flux-schnell]
label = "FLUX.1 [schnell]"
about = "the cheapest FLUX"
text = "fal-ai/flux/schnell"
price = { per = "megapixel", usd = "0.003" }
unit_price = "0.003"
[models.flux-schnell.inputs]
prompt = "prompt"
size = "image_size"
n = "num_images"
[models.flux-schnell.fields]
prompt = "text:1..32000 required"
image_size = "image_size"
num_images = "integer:1..4"
num_inference_steps = "integer:1..12"
"""


async def test_an_operators_models_file_adds_a_model_without_code(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path
) -> None:
    fal.default = FalBehaviour(run_seconds=0.1, billable_units=Decimal("0.0421"))
    models = tmp_path / "models.toml"
    models.write_text(MODELS_FILE)
    env = bot_env(slack, tmp_path, FAL_KEY=fal.key, IMAGEBOT_MODELS_FILE=str(models))
    async with running_bot(slack, env) as bot:
        await bot.driver.command("/image", "a fox --model flux-schnell --n 2 --size square")
        (job,) = await bot.finished(1)
        await bot.driver.command("/image", "models")
        await bot.idle()
        listing = slack.responses[-1].body["text"]

    (record,) = fal.submits_for("fal-ai/flux/schnell")
    assert record.arguments == {
        "prompt": "a fox", "num_images": 2, "image_size": {"width": 1024, "height": 1024},
    }  # fmt: skip
    assert job.state == JobState.DELIVERED and job.request.model == "flux-schnell"
    assert "*FLUX.1 [schnell]* `flux-schnell` _(draft)_" in listing


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[models.x\n", "is not valid TOML"),
        ('[models.x]\ntext = "a/b"\n', "model `x`: price is missing"),
        ('[roles]\ndraft = "nothing"\n', "role `draft` names no model of the catalog"),
        (MODELS_FILE.replace('prompt = "prompt"', 'prompt = "text"'), "text not among"),
    ],
)
async def test_a_malformed_models_file_stops_the_start_with_one_line(
    slack: SlackStandIn, tmp_path: Path, text: str, named: str
) -> None:
    models = tmp_path / "models.toml"
    models.write_text(text)
    env = bot_env(slack, tmp_path, IMAGEBOT_PROVIDER="mock", IMAGEBOT_MODELS_FILE=str(models))
    line = await failed_start(["run", "--http", "--port", str(free_port())], env, tmp_path)
    assert line.startswith(f"imagebot: IMAGEBOT_MODELS_FILE: models file {models}")
    assert named in line


async def test_reports_by_model_and_by_style_add_up_to_the_total(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    await admin_says(bot, slack, f"style add brand --model flux-lora --lora {LORA}")
    for text in ("a fox", "a fox --model seedream --n 2", "a fox --style brand", "a fox --draft"):
        await bot.driver.command("/image", text)
    jobs = await bot.finished(4)
    period = date_range(date(2000, 1, 1), date(2100, 1, 1), UTC_ZONE)

    by_model = await bot.store.report(period, "model", UTC_ZONE)
    by_style = await bot.store.report(period, "style", UTC_ZONE)
    by_user = await bot.store.report(period, "user", UTC_ZONE)

    spent = {job.request.model: job.amount_micros for job in jobs}
    assert {row.group: row.spend_micros for row in by_model.rows} == spent
    assert {row.group: row.spend_micros for row in by_style.rows} == {
        "brand": spent["flux-lora"],
        "": sum(spent.values()) - spent["flux-lora"],
    }
    total = sum(job.amount_micros for job in jobs)
    assert sum(r.spend_micros for r in by_model.rows) == total
    assert sum(r.spend_micros for r in by_style.rows) == total
    assert sum(r.spend_micros for r in by_user.rows) == total

    told = await admin_says(bot, slack, "report --by style")
    assert told.startswith("Spend ")

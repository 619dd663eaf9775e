"""Every shipped model end to end against the fal stand-in: the inputs fal's schema expects,
the image in the thread, the charge at the stand-in's billed units x the endpoint's unit price."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from bot.domain.request import ImageRequest
from bot.domain.usd import to_micros
from bot.providers.base import Finished, SubmitGuard
from bot.providers.fal.queue import FalProvider
from bot.store import JobState
from bot.testing.fal.models import UNIT_PRICES
from bot.testing.fal.standin import FalBehaviour, FalRecord, FalStandIn
from bot.testing.harness import RunningBot, bot_env, running_bot
from bot.testing.images import make_png
from bot.testing.slack.standin import SlackStandIn
from tests.factories import CATALOG

# Each text model with options of its own, and the endpoint it must reach.
TEXT_MODELS = [
    ("gpt-image-2", "--quality low --size square", "openai/gpt-image-2"),
    ("flux-2", "--size square --seed 3", "fal-ai/flux-2-pro"),
    ("seedream", "--n 2", "fal-ai/bytedance/seedream/v4.5/text-to-image"),
    ("nano-banana-pro", "--ar 16:9 --res 2k", "fal-ai/nano-banana-pro"),
    ("flux-lora", "--size square", "fal-ai/flux-lora"),
    ("z-image-turbo", "--size landscape --n 2", "fal-ai/z-image/turbo"),
]
# Replies in the thread: the model's own edit endpoint, or the catalog's edit model's.
EDITS = {
    "gpt-image-2": "openai/gpt-image-2/edit",
    "flux-2": "fal-ai/flux-2-pro/edit",
    "seedream": "fal-ai/bytedance/seedream/v4.5/edit",
    "nano-banana-pro": "fal-ai/nano-banana-pro/edit",
    "flux-lora": "openai/gpt-image-2/edit",
    "z-image-turbo": "openai/gpt-image-2/edit",
}


@pytest.fixture
async def bot(slack: SlackStandIn, fal: FalStandIn, tmp_path: Path) -> AsyncIterator[RunningBot]:
    fal.default = FalBehaviour(run_seconds=0.1, billable_units=Decimal("0.0421"))
    async with running_bot(slack, bot_env(slack, tmp_path, FAL_KEY=fal.key)) as running:
        yield running


def billed_micros(record: FalRecord) -> int:
    assert record.units is not None
    return to_micros(record.units * UNIT_PRICES[record.endpoint_id])


@pytest.mark.parametrize(("model", "options", "endpoint"), TEXT_MODELS)
async def test_each_model_makes_an_image_and_an_edit_charged_as_fal_bills(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn, model: str, options: str, endpoint: str
) -> None:
    await bot.driver.command("/image", f"a lighthouse at dawn --model {model} {options}")
    (made,) = await bot.finished(1)

    (record,) = fal.submits_for(endpoint)
    assert fal.schema_errors == []
    assert made.state == JobState.DELIVERED and made.request.model == model
    upload = next(u for u in slack.uploads if u.completed)
    assert upload.thread_ts == made.thread_ts
    assert upload.bytes == record.media[record.image_urls[0]]
    assert made.charge_status == "settled" and made.amount_micros == billed_micros(record)

    await bot.driver.say("make the sky navy", user="U0BOB", thread_ts=made.thread_ts)
    edit = (await bot.finished(2))[1]

    (edit_record,) = fal.submits_for(EDITS[model])
    assert fal.schema_errors == []
    assert edit_record.arguments["image_urls"] == [made.images[0].url]
    assert edit.state == JobState.DELIVERED and edit.user_id == "U0BOB"
    assert edit.amount_micros == billed_micros(edit_record)


async def test_the_card_names_the_model_and_offers_high_quality_only_where_it_exists(
    bot: RunningBot, slack: SlackStandIn
) -> None:
    await bot.driver.command("/image", "a tea tin label --model seedream")
    (job,) = await bot.finished(1)
    last = slack.calls_to("chat.update")[-1].args
    text = str(last["blocks"])
    assert "Seedream 4.5" in text and "High quality" not in text and job.request.quality is None


async def test_an_option_the_model_lacks_is_refused_and_nothing_is_sent(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    await bot.driver.command("/image", "a tea tin label --model seedream --quality high")
    await bot.idle()

    told = slack.responses[-1].body["text"]
    assert told.startswith("Seedream 4.5 doesn't take `--quality`. It takes `--n`, `--seed`")
    assert fal.requests == [] and await bot.store.jobs() == []


async def test_an_unknown_model_gets_the_list_of_models(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    await bot.driver.command("/image", "a fox --model dalle")
    await bot.idle()

    told = slack.responses[-1].body["text"]
    assert "There's no model `dalle`" in told and "`seedream`" in told
    assert fal.requests == []


async def nobody_has(request_id: str) -> bool:
    return False


async def test_the_upscaler_fits_its_schema_and_costs_its_megapixels(fal: FalStandIn) -> None:
    fal.default = FalBehaviour(run_seconds=0.1)
    provider = FalProvider(fal.key, CATALOG)
    upscaler = CATALOG.role("upscale")
    image = "data:image/png;base64," + base64.b64encode(make_png("u", 64, 64)).decode()
    request = ImageRequest(prompt="upscale", model=upscaler.name)
    arguments = upscaler.arguments("upscale", request, [image], None)
    endpoint = upscaler.endpoint_for("upscale")
    try:
        submission = await provider.submit(endpoint, arguments, SubmitGuard(None, nobody_has))
        async with asyncio.timeout(20):
            while not isinstance(await provider.status(submission), Finished):
                await asyncio.sleep(0.05)
        generation = await provider.result(submission)
        cost = await provider.cost_micros(endpoint, generation.billed_units or Decimal(0))
    finally:
        await provider.close()

    (record,) = fal.requests
    assert fal.schema_errors == [] and record.arguments["image_url"] == image
    assert len(generation.images) == 1
    # 2x of the stand-in's 1024 px: 2048x2048 = 4 megapixels at $0.001.
    assert generation.billed_units == Decimal(4) and cost == 4_000 == billed_micros(record)

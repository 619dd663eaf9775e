"""The Workflow Builder step "Generate an image", driven by `function_executed` events as Slack
sends them (signed, into Bolt's HTTP path), with the step as manifest.yml declares it: a run
posts like `/image`, charged to the person running the workflow, and completes with the
image's permalink; a run that cannot be admitted fails with a readable reason and charges
nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.store import JobState
from bot.testing.fal.standin import FalStandIn
from bot.testing.harness import RunningBot
from bot.testing.slack.functions import FunctionRun, definition
from bot.testing.slack.standin import SlackStandIn

MANIFEST = yaml.safe_load((Path(__file__).parents[2] / "manifest.yml").read_text())
STEP = definition(MANIFEST["functions"]["generate_image"])
BOB = "U0BOB"
CHANNEL = "C0GENERAL"


async def ended_run(bot: RunningBot, slack: SlackStandIn, **inputs: Any) -> FunctionRun:
    """Run the step with these inputs (Bob running the workflow) until the bot has ended it."""
    inputs = {"channel": CHANNEL, "user": {"id": BOB, "secret": "c2VjcmV0"}} | inputs
    reply, execution = await bot.driver.run_step("generate_image", inputs, STEP)
    assert reply.status == 200
    return await slack.wait_for(
        lambda: next(
            (r for r in slack.function_runs if r.execution_id == execution and r.answers), None
        ),
        timeout=40,
    )


async def test_a_run_posts_like_image_and_completes_with_the_images_permalink(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    run = await ended_run(bot, slack, prompt="a kite over the sea --quality low", model="")

    (job,) = await bot.finished(1)
    assert run.state == "completed" and run.answers == ["ok"]
    assert job.state == JobState.DELIVERED and job.origin == "workflow"
    assert job.user_id == BOB and job.channel_id == CHANNEL and job.charge_status == "settled"
    assert fal.requests[0].arguments["prompt"] == "a kite over the sea"
    (image,) = [f for f in slack.files if f["id"] == job.slack_file_ids[0]]
    assert run.outputs == {"permalink": image["permalink"]}
    card = next(m for m in slack.messages(CHANNEL) if m["ts"] == job.card_ts)
    assert f"<@{BOB}> asked for an image" in str(card["blocks"])


async def test_a_run_names_its_model(bot: RunningBot, slack: SlackStandIn, fal: FalStandIn) -> None:
    run = await ended_run(bot, slack, prompt="a tea tin label", model="Seedream")

    assert run.state == "completed"
    (record,) = fal.requests
    assert record.endpoint_id.startswith("fal-ai/bytedance/seedream")


@pytest.mark.parametrize(
    ("inputs", "reason"),
    [
        ({"prompt": "a kite", "model": "dalle"}, "There's no model or style dalle"),
        ({"prompt": "x" * 32_001}, "32,000"),
        ({"prompt": "a kite --n 9"}, "9"),
        ({"prompt": "a kite --quality low"}, "would go over your monthly budget"),
    ],
)
async def test_a_run_that_cannot_be_admitted_fails_readably_and_charges_nothing(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn, inputs: dict[str, str], reason: str
) -> None:
    await bot.store.set_budget("user", BOB, 1, by="U0ADMIN")  # a micro-dollar: nothing fits

    run = await ended_run(bot, slack, **inputs)

    assert run.state == "failed" and reason in (run.error or "")
    assert "`" not in (run.error or "")  # Workflow Builder shows it as plain text
    await bot.idle()
    assert fal.requests == [] and await bot.store.jobs() == []
    assert slack.calls_to("chat.postMessage") == []

"""What fal does and bills, as people see it: options the model lacks, fal's status codes,
cancels fal confirms, billed errors, lost submit answers, fallbacks and fal's unit prices."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from pathlib import Path

import pytest

from bot.slack.views.card import ACTION_CANCEL
from bot.store import JobState
from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.harness import RunningBot, bot_env, running_bot
from bot.testing.slack.standin import SlackStandIn
from tests.helpers import card_of

T2I = "openai/gpt-image-2"
MakeBot = Callable[..., AbstractAsyncContextManager[RunningBot]]


@pytest.fixture
def make_bot(slack: SlackStandIn, fal: FalStandIn, tmp_path: Path) -> MakeBot:
    def make(**extra: str) -> AbstractAsyncContextManager[RunningBot]:
        return running_bot(slack, bot_env(slack, tmp_path, FAL_KEY=fal.key, **extra))

    return make


@pytest.fixture
async def bot(make_bot: MakeBot) -> AsyncIterator[RunningBot]:
    async with make_bot() as running:
        yield running


def card_edits(slack: SlackStandIn) -> list[str]:
    return [json.dumps(call.args) for call in slack.calls_to("chat.update")]


# --- inputs exactly as fal's schema has them --------------------------------------------------


async def test_an_option_the_model_lacks_gets_its_message_and_nothing_is_sent_or_held(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    reply = await bot.driver.command("/image", "a sticker of a fox --background transparent")
    await bot.idle()

    assert reply.status == 200
    told = slack.responses[-1].body["text"]
    assert told.startswith("GPT Image 2 on fal can't make transparent backgrounds")
    assert "Nothing was charged" in told
    assert fal.requests == [] and fal.calls["submit"] == 0
    assert await bot.store.jobs() == []
    assert slack.calls_to("chat.postMessage") == []


async def test_every_submit_fits_the_schema_and_asks_fal_not_to_fall_back(
    bot: RunningBot, fal: FalStandIn
) -> None:
    await bot.driver.command("/image", "a fox --background opaque --size 4k --format webp --n 2")

    (job,) = await bot.finished()

    assert job.state == JobState.DELIVERED
    (record,) = fal.requests
    assert "background" not in record.arguments and fal.schema_errors == []
    # fal's reliability docs: the header turns model fallbacks off for the request.
    assert record.headers["x-fal-disable-fallbacks"] == "true"


# --- fal's status codes, followed by polling ---------------------------------------------------


async def test_without_the_stream_polling_shows_the_queue_then_generating_and_drops_cancel(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    fal.default = FalBehaviour(queue_seconds=4, queue_position=3, run_seconds=6, stream=False)

    await bot.driver.command("/image", "a slow lighthouse --quality low")
    (job,) = await bot.finished()

    assert job.state == JobState.DELIVERED
    (record,) = fal.requests
    assert 0 < record.status_calls <= 15
    edits = card_edits(slack)
    queued = [i for i, e in enumerate(edits) if "Queued at fal (position" in e]
    generating = [i for i, e in enumerate(edits) if "Generating" in e]
    assert queued and generating and queued[0] < generating[0]
    assert all(ACTION_CANCEL in edits[i] for i in queued)
    assert all(ACTION_CANCEL not in e for e in edits[generating[0] :])
    assert job.started_at is not None and job.started_at < (job.generated_at or job.started_at)


# --- honest cancels ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["COMPLETED", "CANCELLED"])
async def test_cancel_while_queued_is_free_and_fal_bills_nothing(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn, status: str
) -> None:
    fal.default = FalBehaviour(queue_seconds=60, queue_position=4, cancelled_status=status)
    await bot.driver.command("/image", "a queued heron --quality low")
    job = await bot.job_when(lambda j: j.state == JobState.SUBMITTED and j.card_ts is not None)

    await bot.driver.press(ACTION_CANCEL, job.id, message_ts=job.card_ts or "")

    (done,) = await bot.finished()
    assert done.state == JobState.CANCELLED and done.error_kind == "cancelled"
    assert done.charge_status == "released" and done.amount_micros == 0
    assert fal.requests[0].cancelled and fal.billing_events() == []
    assert "Nothing was charged" in card_of(slack, done)


@pytest.mark.parametrize(
    ("on_cancel", "units"), [("stop", Decimal("0.0107")), ("finish", Decimal("0.0421"))]
)
async def test_cancel_as_fal_starts_the_job_is_charged_what_fal_billed(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn, on_cancel: str, units: Decimal
) -> None:
    fal.default = FalBehaviour(
        start_on_cancel=True, on_cancel=on_cancel, stop_units=Decimal("0.0107"), run_seconds=0.3
    )
    await bot.driver.command("/image", "a heron that starts --quality low")
    job = await bot.job_when(lambda j: j.state == JobState.SUBMITTED and j.card_ts is not None)

    await bot.driver.press(ACTION_CANCEL, job.id, message_ts=job.card_ts or "")

    (done,) = await bot.finished()
    assert done.state == JobState.CANCELLED and done.error_kind == "cancelled_after_start"
    [event] = fal.billing_events()
    assert Decimal(str(event["output_units"])) == units
    assert done.charge_status == "settled" and not done.charge_estimated
    assert done.amount_micros == int(units * 1_000_000) and done.billed_units == units
    card = card_of(slack, done)
    assert "fal had already started it" in card and f"fal billed ${units}" in card
    assert "Nothing was charged" not in card
    assert not [u for u in slack.uploads if u.completed]


# --- billed errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "units", "charged", "says"),
    [
        ("validation_error", Decimal("0.0123"), 24_600, "fal billed $0.0246 for this attempt"),
        ("validation_error", None, 0, "Nothing was charged"),
        ("content_policy", Decimal("0.02"), 40_000, "fal billed $0.04 for this attempt"),
    ],
)
async def test_a_refusal_fal_billed_is_charged_units_times_unit_price(
    bot: RunningBot,
    slack: SlackStandIn,
    fal: FalStandIn,
    outcome: str,
    units: Decimal | None,
    charged: int,
    says: str,
) -> None:
    fal.prices[T2I] = Decimal("2")  # fal's pricing API, not the bot's table, prices the units
    fal.default = FalBehaviour(outcome=outcome, run_seconds=0.1, error_units=units)

    await bot.driver.command("/image", "a refused heron --quality low")

    (job,) = await bot.finished()
    assert job.state == JobState.FAILED
    assert job.amount_micros == charged
    assert job.charge_status == ("settled" if charged else "released")
    assert not job.charge_estimated
    card = card_of(slack, job)
    assert says in card
    assert ("Nothing was charged" in card) is (charged == 0)


async def test_unit_prices_come_from_fal_s_pricing_api(bot: RunningBot, fal: FalStandIn) -> None:
    fal.prices[T2I] = Decimal("0.5")
    fal.default = FalBehaviour(run_seconds=0.1, billable_units=Decimal("0.0421"))

    await bot.driver.command("/image", "a heron at half price --quality low")

    (job,) = await bot.finished()
    assert job.amount_micros == 21_050
    assert fal.calls["platform"] >= 1


# --- a submit whose answer is lost ------------------------------------------------------------


async def test_a_submit_answer_lost_on_the_way_makes_one_fal_request_one_post_one_charge(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    fal.plan(FalBehaviour(outcome="submit_drop", fail_times=1, run_seconds=0.2))

    await bot.driver.command("/image", "a heron whose answer got lost --quality low")

    (job,) = await bot.finished()
    assert job.state == JobState.DELIVERED
    assert fal.calls["submit"] == 1 and len(fal.requests) == 1
    assert job.fal_request_id == fal.requests[0].request_id
    cards = [m for m in slack.messages("C0GENERAL") if m.get("thread_ts", m["ts"]) == m["ts"]]
    assert len(cards) == 1
    assert len([u for u in slack.uploads if u.completed]) == 1
    charges = await bot.store.jobs()
    assert [(j.charge_status, j.amount_micros) for j in charges] == [("settled", 42_100)]

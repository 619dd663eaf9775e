"""Faults injected through the stand-ins: what the person sees, and what the ledger says."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from pathlib import Path

import pytest

from bot.store import JobState
from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.harness import RunningBot, bot_env, running_bot
from bot.testing.slack.standin import SlackStandIn
from tests.helpers import card_of

ADMIN = "U0ADMIN"
MakeBot = Callable[..., AbstractAsyncContextManager[RunningBot]]


@pytest.fixture
def make_bot(slack: SlackStandIn, fal: FalStandIn, tmp_path: Path) -> MakeBot:
    slack.add_user(ADMIN, "ada")
    fal.default = FalBehaviour(run_seconds=0.2, billable_units=Decimal("0.0421"))

    def make(**extra: str) -> AbstractAsyncContextManager[RunningBot]:
        env = bot_env(slack, tmp_path, FAL_KEY=fal.key, IMAGEBOT_ADMINS=ADMIN, **extra)
        return running_bot(slack, env)

    return make


@pytest.fixture
async def bot(make_bot: MakeBot) -> AsyncIterator[RunningBot]:
    async with make_bot() as running:
        yield running


# --- fal ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "behaviour",
    [
        FalBehaviour(outcome="status_429", fail_times=3),
        FalBehaviour(outcome="result_429", fail_times=2),
        FalBehaviour(outcome="submit_503", fail_times=2),
        FalBehaviour(outcome="result_500", fail_times=0),
    ],
    ids=["status 429", "result 429", "submit 503", "no fault"],
)
async def test_transient_fal_errors_are_retried_and_the_job_succeeds(
    bot: RunningBot, fal: FalStandIn, behaviour: FalBehaviour
) -> None:
    fal.default = behaviour

    await bot.driver.command("/image", "a heron --quality low")

    (job,) = await bot.finished()
    assert job.state == JobState.DELIVERED and job.amount_micros == 42_100
    assert len(fal.requests) == 1


async def test_fal_validation_error_is_shown_in_plain_words(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    fal.default = FalBehaviour(outcome="validation_error")

    await bot.driver.command("/image", "a heron --quality low")

    (job,) = await bot.finished()
    assert job.state == JobState.FAILED and job.error_kind == "invalid_input"
    assert job.charge_status == "released"
    card = card_of(slack, job)
    assert "fal could not use this request" in card and "Nothing was charged" in card


async def test_locked_account_tells_the_person_and_admins_once_an_hour(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    fal.default = FalBehaviour(outcome="locked")

    for number in range(2):
        await bot.driver.command("/image", f"a heron {number} --quality low")
    jobs = await bot.finished(2)

    assert all(j.error_kind == "account_locked" and j.amount_micros == 0 for j in jobs)
    assert all("ask an admin" in card_of(slack, j) for j in jobs)
    admin_dms = [
        c.args for c in slack.calls_to("chat.postMessage") if c.args["channel"].startswith("D")
    ]
    assert len(admin_dms) == 1 and "fal refused" in admin_dms[0]["text"]
    assert slack.channel(admin_dms[0]["channel"]).user == ADMIN


async def test_a_job_still_queued_at_its_deadline_is_cancelled_and_costs_nothing(
    make_bot: MakeBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    fal.default = FalBehaviour(queue_seconds=600, queue_position=30)
    async with make_bot(IMAGEBOT_JOB_DEADLINE_SECONDS="1.5") as bot:
        await bot.driver.command("/image", "forever --quality low")
        (job,) = await bot.finished()

    assert job.state == JobState.FAILED and job.error_kind == "timeout"
    assert job.charge_status == "released" and job.amount_micros == 0
    assert fal.requests[0].cancelled
    assert "took too long" in card_of(slack, job) and "Nothing was charged" in card_of(slack, job)


async def test_a_job_fal_keeps_running_past_its_deadline_counts_at_its_estimate(
    make_bot: MakeBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    fal.default = FalBehaviour(outcome="never", on_cancel="finish")
    async with make_bot(IMAGEBOT_JOB_DEADLINE_SECONDS="1.5") as bot:
        await bot.driver.command("/image", "forever --quality low")
        (job,) = await bot.finished()

    assert job.state == JobState.FAILED and job.error_kind == "overdue"
    # fal started it and did not stop, so fal bills it: the estimate stays charged, marked.
    assert job.charge_status == "settled" and job.charge_estimated
    assert job.amount_micros == job.estimate_micros > 0
    assert fal.calls["cancel"] == 1 and not fal.requests[0].cancelled
    assert "stopped waiting" in card_of(slack, job)


async def test_a_job_fal_stops_at_its_deadline_is_charged_what_fal_billed(
    make_bot: MakeBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    fal.default = FalBehaviour(outcome="never", stop_units=Decimal("0.0107"))
    async with make_bot(IMAGEBOT_JOB_DEADLINE_SECONDS="1.5") as bot:
        await bot.driver.command("/image", "forever --quality low")
        (job,) = await bot.finished()

    assert job.state == JobState.FAILED and job.error_kind == "timeout"
    assert fal.requests[0].stopped
    assert job.charge_status == "settled" and not job.charge_estimated
    assert job.amount_micros == 10_700 and job.billed_units == Decimal("0.0107")
    card = card_of(slack, job)
    assert "fal had already started" in card and "fal billed $0.0107" in card
    assert "Nothing was charged" not in card


# --- Slack --------------------------------------------------------------------------------------


async def test_slack_rate_limit_is_honoured(bot: RunningBot, slack: SlackStandIn) -> None:
    slack.rate_limit("chat.postMessage", retry_after=1, times=1)

    await bot.driver.command("/image", "a heron --quality low")

    (job,) = await bot.finished()
    posts = slack.calls_to("chat.postMessage")
    assert [c.status for c in posts[:2]] == [429, 200]
    assert posts[1].time - posts[0].time >= 0.9  # waited for Retry-After
    assert job.state == JobState.DELIVERED


async def test_slack_server_errors_are_retried(bot: RunningBot, slack: SlackStandIn) -> None:
    slack.server_error("files.completeUploadExternal", status=500, times=1)
    slack.server_error("chat.postMessage", status=503, times=1)

    await bot.driver.command("/image", "a heron --quality low")

    (job,) = await bot.finished()
    assert job.state == JobState.DELIVERED
    assert len([u for u in slack.uploads if u.completed]) == 1


@pytest.mark.parametrize(
    ("setup", "says"),
    [
        (lambda s: s.archive_channel("C0GENERAL"), "archived"),
        (lambda s: s.fail("chat.postMessage", "channel_not_found"), "private channels need"),
    ],
    ids=["is_archived", "channel_not_found"],
)
async def test_unplaceable_requests_are_answered_privately(
    bot: RunningBot,
    slack: SlackStandIn,
    fal: FalStandIn,
    setup: Callable[[SlackStandIn], None],
    says: str,
) -> None:
    setup(slack)

    await bot.driver.command("/image", "a heron --quality low")

    (job,) = await bot.finished()
    assert job.state == JobState.FAILED and job.amount_micros == 0
    assert fal.requests == []
    assert says in slack.responses[-1].body["text"]


async def test_upload_failing_after_fal_keeps_the_images_until_delivered(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn, tmp_path: Path
) -> None:
    slack.fail_upload(times=6)  # more than slack-sdk retries on its own

    await bot.driver.command("/image", "a heron --quality low")

    generated = await bot.job_when(lambda j: j.state == JobState.GENERATED and j.upload_started)
    assert all(Path(image.spool_path or "").is_file() for image in generated.images)
    assert generated.amount_micros == 42_100  # fal billed it: settled already
    (job,) = await bot.finished()
    assert job.state == JobState.DELIVERED
    assert [u.bytes for u in slack.uploads if u.completed] == [
        fal.requests[0].media[fal.requests[0].image_urls[0]]
    ]
    assert not (tmp_path / "imagebot-spool" / job.id).exists()


async def test_upload_that_can_never_land_tells_the_person(
    bot: RunningBot, slack: SlackStandIn
) -> None:
    slack.fail("files.completeUploadExternal", "is_archived", times=None)

    await bot.driver.command("/image", "a heron --quality low")

    (job,) = await bot.finished()
    assert job.state == JobState.FAILED and job.error_kind == "slack_is_archived"
    assert job.charge_status == "settled"  # fal made and billed the image
    assert "couldn't post it" in slack.responses[-1].body["text"]


@pytest.mark.parametrize(
    ("behaviour", "polled"),
    [
        (FalBehaviour(run_seconds=0.5), False),
        (FalBehaviour(run_seconds=0.5, stream=False), True),
        (FalBehaviour(run_seconds=0.5, stream_drops=True), True),
    ],
    ids=["stream", "no stream", "stream breaks"],
)
async def test_status_comes_from_the_stream_or_else_from_polling(
    bot: RunningBot, fal: FalStandIn, behaviour: FalBehaviour, polled: bool
) -> None:
    fal.default = behaviour

    await bot.driver.command("/image", "a heron --quality low")

    (job,) = await bot.finished()
    assert job.state == JobState.DELIVERED
    (record,) = fal.requests
    assert record.stream_calls == 1
    assert (record.status_calls > 0) is polled

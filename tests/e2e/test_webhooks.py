"""fal's webhooks in HTTP mode: jobs are submitted with the bot's webhook URL, a delivery signed
with fal's key (the stand-in's, published in its JWKS) finishes the job at once, forged, stale
and replayed deliveries are refused and change nothing, and a job whose webhook never comes
is delivered all the same."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from bot.app import make_provider
from bot.config import Settings
from bot.providers.fal.queue import FalProvider
from bot.slack.views.card import ACTION_CANCEL
from bot.store import JobState
from bot.testing.fal.standin import FalBehaviour, FalRecord, FalStandIn
from bot.testing.fal.webhooks import WebhookSigner, webhook_body
from bot.testing.harness import RunningBot, bot_env, running_bot
from bot.testing.slack.standin import SlackStandIn

GPT_IMAGE_2 = "openai/gpt-image-2"
# The bot asks for fal's status so rarely (it expects two minutes of work) that only a
# webhook can finish these jobs within the tests' timeouts.
SLOW_POLLS = [120.0, 120.0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def webhook_bot(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path, grace: float = 60.0
) -> AsyncIterator[RunningBot]:
    """A bot asking fal for webhooks: a job waits `grace` seconds for its webhook, parked,
    before anyone follows it at fal."""
    port = free_port()
    env = bot_env(
        slack, tmp_path, FAL_KEY=fal.key,
        IMAGEBOT_PUBLIC_URL=f"http://127.0.0.1:{port}/",
        IMAGEBOT_FAL_JWKS_URL=fal.jwks_url,
        IMAGEBOT_WEBHOOK_GRACE_SECONDS=str(grace),
    )  # fmt: skip
    async with running_bot(slack, env, port=port) as running:
        running.services.runner.durations.seed((GPT_IMAGE_2, "low"), SLOW_POLLS)
        yield running


@pytest.fixture
async def bot(slack: SlackStandIn, fal: FalStandIn, tmp_path: Path) -> AsyncIterator[RunningBot]:
    async with webhook_bot(slack, fal, tmp_path) as running:
        yield running


async def parked(bot: RunningBot) -> None:
    """The job is at fal and no task follows it: only fal's word (or the grace) moves it."""
    await bot.job_when(lambda j: j.state == JobState.SUBMITTED)
    await until(lambda: bot.services.runner.active == 0)


async def submitted(fal: FalStandIn, timeout: float = 20.0) -> FalRecord:
    async with asyncio.timeout(timeout):
        while not fal.requests:
            await asyncio.sleep(0.02)
    return fal.requests[0]


async def until(check: object, timeout: float = 20.0) -> None:
    assert callable(check)
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


async def post_webhook(bot: RunningBot, body: bytes, headers: dict[str, str]) -> int:
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{bot.url}/fal/webhook", content=body, headers=headers)
    return answer.status_code


async def test_a_signed_webhook_finishes_the_job_at_once(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    fal.default = FalBehaviour(run_seconds=2.0, stream=False)

    job = await bot.delivered("a heron in the reeds --quality low", timeout=60)

    (rec,) = fal.requests
    assert rec.webhook_url == f"{bot.url}/fal/webhook"
    assert rec.webhook_answers == [200]
    assert job.fal_request_id == rec.request_id
    assert len([u for u in slack.uploads if u.completed]) == 1
    assert job.charge_status == "settled"


async def test_forged_stale_and_unsigned_webhooks_are_refused_and_change_nothing(
    bot: RunningBot, fal: FalStandIn
) -> None:
    fal.default = FalBehaviour(run_seconds=2.0, stream=False, webhook="drop")
    await bot.driver.command("/image", "a fox in the snow --quality low")
    rec = await submitted(fal)
    await parked(bot)
    await until(lambda: rec.completed_at is not None)
    polls = rec.status_calls
    body = webhook_body(rec.request_id, {"images": []}, None)
    forged = WebhookSigner().headers(rec.request_id, body)
    stale = fal.signer.headers(rec.request_id, body, timestamp=int(time.time()) - 301)
    unsigned = {k: v for k, v in forged.items() if k != "X-Fal-Webhook-Signature"}

    answers = [await post_webhook(bot, body, h) for h in (forged, stale, unsigned)]

    assert answers == [401, 401, 401]
    await asyncio.sleep(1.0)  # time enough for a wrongly accepted webhook to have acted
    job = await bot.job_when(lambda j: True)
    assert job.state == JobState.SUBMITTED
    assert (rec.status_calls, rec.result_calls) == (polls, 0)
    # fal's own delivery, signed with its key, then finishes the job.
    assert await post_webhook(bot, body, fal.signer.headers(rec.request_id, body)) == 200
    (job,) = await bot.finished(1)
    assert job.state == JobState.DELIVERED


async def test_a_replayed_webhook_is_refused_and_the_job_delivered_once(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    fal.default = FalBehaviour(run_seconds=0.5, stream=False, webhook="replay")

    job = await bot.delivered("an owl at dusk --quality low", timeout=60)

    (rec,) = fal.requests
    await until(lambda: len(rec.webhook_answers) == 2)
    assert rec.webhook_answers == [200, 401]
    await bot.idle()
    assert job.state == JobState.DELIVERED
    assert len([u for u in slack.uploads if u.completed]) == 1
    assert rec.result_calls == 1


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "polling"])
async def test_a_job_whose_webhook_never_comes_is_delivered_by_the_stream_or_polling(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path, stream: bool
) -> None:
    fal.default = FalBehaviour(run_seconds=0.5, webhook="drop", stream=stream)

    async with webhook_bot(slack, fal, tmp_path, grace=1.0) as bot:
        # Polling on its usual schedule: nothing learned about how long jobs take.
        bot.services.runner.durations.seed((GPT_IMAGE_2, "low"), [])
        job = await bot.delivered("a lighthouse in fog --quality low", timeout=60)

    (rec,) = fal.requests
    assert rec.webhook_url is not None and rec.webhook_answers == []
    assert stream or rec.status_calls > 0
    assert job.charge_status == "settled"
    assert len([u for u in slack.uploads if u.completed]) == 1


async def test_without_a_public_url_no_webhook_is_asked_for(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path
) -> None:
    async with running_bot(slack, bot_env(slack, tmp_path, FAL_KEY=fal.key)) as bot:
        await bot.delivered("a quiet harbour --quality low")
        assert fal.requests[0].webhook_url is None
        async with httpx.AsyncClient() as http:
            answer = await http.post(f"{bot.url}/fal/webhook", content=b"{}")
        assert answer.status_code == 404


async def test_a_webhook_for_a_parked_job_takes_the_job_up(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn
) -> None:
    fal.default = FalBehaviour(run_seconds=2.0, stream=False, webhook="drop")
    await bot.driver.command("/image", "a wren on a branch --quality low")
    rec = await submitted(fal)
    await parked(bot)
    await until(lambda: rec.completed_at is not None)
    body = webhook_body(rec.request_id, {"images": []}, None)

    assert await post_webhook(bot, body, fal.signer.headers(rec.request_id, body)) == 200

    (done,) = await bot.finished(1)
    assert done.state == JobState.DELIVERED and done.charge_status == "settled"
    assert len([u for u in slack.uploads if u.completed]) == 1


async def test_socket_mode_asks_fal_for_no_webhook(fal: FalStandIn) -> None:
    settings = Settings.model_validate(
        {"FAL_KEY": fal.key, "IMAGEBOT_PUBLIC_URL": "https://imagebot.example.com"}
    )
    http_mode, socket_mode = make_provider(settings), make_provider(settings, socket_mode=True)
    try:
        assert isinstance(http_mode, FalProvider) and isinstance(socket_mode, FalProvider)
        assert http_mode.webhook_url == "https://imagebot.example.com/fal/webhook"
        assert socket_mode.webhook_url is None
    finally:
        await http_mode.close()
        await socket_mode.close()


async def test_a_cancel_while_parked_ends_the_job_without_waiting_for_the_grace(
    bot: RunningBot, fal: FalStandIn
) -> None:
    fal.default = FalBehaviour(queue_seconds=60, queue_position=4, webhook="drop")
    await bot.driver.command("/image", "a moth at a lamp --quality low")
    await parked(bot)
    job = await bot.job_when(lambda j: True)

    await bot.driver.press(ACTION_CANCEL, job.id, message_ts=job.card_ts or "")

    (done,) = await bot.finished(1, timeout=30)  # the grace is 60 s
    assert done.state == JobState.CANCELLED and done.error_kind == "cancelled"
    assert fal.requests[0].cancelled and done.charged_micros == 0

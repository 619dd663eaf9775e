"""Secrets stay out of logs, the bot token stays with Slack, people see only their own spend,
the channel allow-list and prompt retention hold, and /healthz tells the truth."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from bot.run.logs import Redactor
from bot.slack.client import SlackError, SlackOut, make_client
from bot.store import Store
from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.harness import RunningBot, bot_env, running_bot
from bot.testing.images import make_png
from bot.testing.slack.standin import SlackStandIn
from tests import factories


@pytest.fixture
async def bot(slack: SlackStandIn, fal: FalStandIn, tmp_path: Path) -> AsyncIterator[RunningBot]:
    fal.default = FalBehaviour(run_seconds=0.1, billable_units=Decimal("0.0421"))
    async with running_bot(slack, bot_env(slack, tmp_path, FAL_KEY=fal.key)) as running:
        yield running


def test_redactor_blanks_known_secrets_token_shapes_and_auth_headers() -> None:
    redactor = Redactor(["super-secret-signing", "fal-key-123456"])
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1,
        "secret=%s token=%s app=%s header=%s",
        ("super-secret-signing", "xoxb-fake-bot-token-for-the-test", "xapp-1-A0-999999", "Authorization: Key fal-key-123456"),
        None,
    )  # fmt: skip
    redactor.filter(record)
    text = record.getMessage()
    for secret in ("super-secret-signing", "xoxb-fake-bot-token", "xapp-1-A0", "fal-key-123456"):
        assert secret not in text
    assert text.count("[redacted]") == 4


def test_redactor_also_blanks_tracebacks() -> None:
    redactor = Redactor(["hunter2-secret"])
    try:
        raise RuntimeError("failed with hunter2-secret")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    redactor.filter(record)
    assert "hunter2-secret" not in record.getMessage() and "RuntimeError" in record.getMessage()


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/files-pri/T0-F1/x.png",
        "https://files.slack.com.evil.example/x.png",
        "https://notslack.com/x.png",
        "ftp://files.slack.com/x.png",
        "http://files.slack.com/x.png",
        "http://127.0.0.1:9/api/x.png",  # the API host, but not SLACK_API_URL's origin
    ],
)
async def test_the_bot_token_goes_only_to_slack_file_hosts(url: str) -> None:
    slack = SlackOut(make_client("xoxb-test-token", "https://slack.com/api/"))
    with pytest.raises(SlackError) as caught:
        await slack.download(url, 1_000_000)
    assert caught.value.code == "untrusted_file_host"
    await slack.close()


@pytest.mark.parametrize(
    ("url", "trusted"),
    [
        ("https://files.slack.com/files-pri/T0-F1/x.png", True),
        ("https://files-edge.slack.com/x.png", True),
        ("https://a.slack-edge.com/x.png", True),
        ("https://slack-files.com/T0-F1-abc", True),
        ("https://slack.com/x.png", True),
        ("https://SLACK-FILES.com/x.png", True),
        ("https://api.example.test:8443/files/x.png", True),  # SLACK_API_URL's origin
        ("https://api.example.test/files/x.png", False),  # same host, another port
        ("https://slack.com.evil.example/x.png", False),
        ("https://evilslack.com/x.png", False),
        ("http://files.slack.com/x.png", False),
    ],
)
async def test_slacks_own_hosts_and_the_api_origin_are_trusted(url: str, trusted: bool) -> None:
    slack = SlackOut(make_client("xoxb-test-token", "https://api.example.test:8443/api/"))
    assert slack.trusted_file_url(url) is trusted
    await slack.close()


@dataclass
class ForeignHost:
    """A server on another loopback address (Linux routes all of 127/8 to lo) that records
    what it is sent: a host that is not Slack's."""

    url: str
    received: list[tuple[str, dict[str, str]]] = field(default_factory=list)


@pytest.fixture
async def foreign_host() -> AsyncIterator[ForeignHost]:
    host = ForeignHost("")

    async def record(request: web.Request) -> web.Response:
        host.received.append((request.path, dict(request.headers)))
        return web.Response(body=make_png("taken", 32, 32), content_type="image/png")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.2", 0).start()
    host.url = f"http://127.0.0.2:{runner.addresses[0][1]}"
    try:
        yield host
    finally:
        await runner.cleanup()


async def test_a_redirect_off_slack_is_refused_before_anything_is_sent(
    slack: SlackStandIn, foreign_host: ForeignHost
) -> None:
    shared = slack.host_file(make_png("x", 64, 64), name="x.png", mimetype="image/png")
    slack.cdn_base = foreign_host.url
    out = SlackOut(make_client(slack.bot_token, slack.api_url))
    try:
        with pytest.raises(SlackError) as caught:
            await out.download(shared["url_private_download"], 1_000_000)
    finally:
        await out.close()
    assert caught.value.code == "untrusted_file_host"
    assert foreign_host.received == []
    assert [(d.hop, d.granted) for d in slack.downloads] == [("file", True)]


async def test_an_edit_whose_file_redirects_off_slack_never_sends_the_token_there(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn, foreign_host: ForeignHost
) -> None:
    shared = slack.host_file(make_png("x", 64, 64), name="holiday.png", mimetype="image/png")
    slack.cdn_base = foreign_host.url

    await bot.driver.say(f"<@{slack.bot_user_id}> make it snow", files=[shared])
    await bot.idle()

    (told,) = slack.ephemerals
    assert "couldn't fetch `holiday.png`" in told["text"] and "untrusted_file_host" in told["text"]
    assert foreign_host.received == []
    assert fal.requests == [] and await bot.store.jobs() == []


async def test_channel_allow_list(slack: SlackStandIn, fal: FalStandIn, tmp_path: Path) -> None:
    env = bot_env(slack, tmp_path, FAL_KEY=fal.key, IMAGEBOT_ALLOWED_CHANNELS="C0ART")
    async with running_bot(slack, env) as bot:
        await bot.driver.command("/image", "a cat --quality low")
        await bot.idle()
        assert "aren't enabled in this channel" in slack.responses[-1].body["text"]
        assert await bot.store.jobs() == [] and fal.requests == []


async def test_people_see_only_their_own_spend(bot: RunningBot, slack: SlackStandIn) -> None:
    await bot.driver.command("/image", "alice's secret surprise --quality low")
    async with asyncio.timeout(20):
        while not (jobs := await bot.store.jobs()) or not jobs[0].card_done:
            await asyncio.sleep(0.05)

    await bot.driver.command("/image-usage", "", user="U0BOB")
    await bot.idle()

    text = slack.responses[-1].body["text"]
    assert "secret surprise" not in text and "$0.00 of $20.00 used" in text


async def test_retention_blanks_old_prompts_and_keeps_the_amounts(tmp_path: Path) -> None:
    now = datetime(2026, 11, 25, tzinfo=UTC)
    clock = [now - timedelta(days=40)]
    store = await Store.open(tmp_path / "x.db", clock=lambda: clock[0])
    try:
        ids = []
        for prompt in ("an old secret", "a new secret"):
            new = factories.new_job(estimate=10_000, prompt=prompt, quality="low", endpoint="e")
            month = (now - timedelta(days=60), now)
            job_id = await factories.charged(store, new, 10_000, units=Decimal("0.01"), month=month)
            await store.mark_delivered(job_id, [])
            ids.append(job_id)
            clock[0] = now
        removed = await store.blank_prompts(now - timedelta(days=30))
        old, new_job = [await store.get_job(job_id) for job_id in ids]
    finally:
        await store.close()
    assert removed == 1
    assert old is not None and old.prompt == "" and old.amount_micros == 10_000
    assert new_job is not None and new_job.prompt == "a new secret"


async def test_healthz_is_200_when_ready_and_503_when_the_database_is_gone(
    bot: RunningBot,
) -> None:
    async with httpx.AsyncClient() as client:
        ready = await client.get(f"{bot.url}/healthz")
        await bot.store.close()
        broken = await client.get(f"{bot.url}/healthz")
    assert ready.status_code == 200 and ready.json()["database"] is True
    assert broken.status_code == 503 and broken.json()["database"] is False

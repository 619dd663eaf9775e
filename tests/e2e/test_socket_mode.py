"""Socket Mode (when SLACK_APP_TOKEN is set): the bot connects to Slack's WebSocket, acks
envelopes on it, and does the same work as in HTTP mode."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from bot.app import build_app, open_services
from bot.config import Settings
from bot.run.server import BotServer
from bot.store import JobState
from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.harness import bot_env
from bot.testing.process import wait_until
from bot.testing.slack.driver import APP_ID, SlackDriver
from bot.testing.slack.standin import SlackStandIn
from tests.e2e.test_workflow_step import STEP


@pytest.fixture
async def server(slack: SlackStandIn, fal: FalStandIn, tmp_path: Path) -> AsyncIterator[BotServer]:
    fal.default = FalBehaviour(run_seconds=0.2)
    env = bot_env(slack, tmp_path, FAL_KEY=fal.key, SLACK_APP_TOKEN=slack.app_token)
    services = await open_services(Settings.model_validate(env))
    running = BotServer(build_app(services), services, http=False)
    await running.start()
    yield running
    await running.stop()


def command(slack: SlackStandIn, text: str) -> dict[str, str]:
    body = SlackDriver("http://unused", "unused", slack).command_body("/image", text)
    return dict(parse_qsl(body))


async def delivered(server: BotServer, count: int) -> None:
    async with asyncio.timeout(20):
        while True:
            jobs = await server.services.store.jobs()
            if len(jobs) >= count and all(
                j.state == JobState.DELIVERED and j.card_done for j in jobs
            ):
                return
            await asyncio.sleep(0.05)


async def test_a_command_over_socket_mode_is_acked_and_delivered(
    server: BotServer, slack: SlackStandIn, fal: FalStandIn
) -> None:
    envelope = await slack.socket.send("slash_commands", command(slack, "a lantern --quality low"))

    assert envelope.ack is not None
    await delivered(server, 1)
    (record,) = fal.requests
    assert record.arguments["prompt"] == "a lantern"
    assert [u.bytes for u in slack.uploads if u.completed] == [record.media[record.image_urls[0]]]


async def test_help_and_errors_come_back_in_the_ack(server: BotServer, slack: SlackStandIn) -> None:
    help_ack = await slack.socket.send("slash_commands", command(slack, "help"))
    error_ack = await slack.socket.send("slash_commands", command(slack, "a cat --n 9"))

    assert help_ack.ack is not None and "--quality" in help_ack.ack["payload"]["text"]
    assert error_ack.ack is not None and "9" in error_ack.ack["payload"]["text"]


async def test_events_arrive_over_the_socket_too(
    server: BotServer, slack: SlackStandIn, fal: FalStandIn
) -> None:
    dm = slack.add_channel("D0ALICE", "", is_im=True, user="U0ALICE")
    message = slack.add_message(dm.id, "a paper lantern")
    driver = SlackDriver("http://unused", "unused", slack)
    envelope = driver.event_body(driver.message_event(message, channel=dm.id, channel_type="im"))

    await slack.socket.send("events_api", json.loads(envelope))

    await delivered(server, 1)
    assert fal.requests[0].arguments["prompt"] == "a paper lantern"


async def test_imagebot_run_uses_socket_mode_when_the_app_token_is_set(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path
) -> None:
    env = bot_env(slack, tmp_path, FAL_KEY=fal.key, SLACK_APP_TOKEN=slack.app_token)
    env.pop("SLACK_SIGNING_SECRET")  # not needed without HTTP
    command_line = [sys.executable, "-m", "bot", "run"]
    proc = subprocess.Popen(command_line, env={**os.environ, **env}, cwd=tmp_path)
    try:
        await slack.socket.wait_connected(30)
        envelope = await slack.socket.send("slash_commands", command(slack, "a lantern"))
        assert envelope.ack is not None
        await slack.wait_for(lambda: [u for u in slack.uploads if u.completed] or None, 30)
    finally:
        started = time.monotonic()
        proc.terminate()
        # Wait without blocking the loop: the stand-in must answer the socket's closing.
        await wait_until(lambda: proc.poll() is not None, 30, what="the bot to exit")
    assert proc.returncode == 0
    assert time.monotonic() - started < 10


async def test_a_workflow_step_run_over_the_socket_completes_with_the_image_link(
    server: BotServer, slack: SlackStandIn, fal: FalStandIn
) -> None:
    inputs = {"prompt": "a lantern", "channel": "C0GENERAL", "user": {"id": "U0BOB"}}
    event = slack.function_executed("generate_image", inputs, STEP, APP_ID)
    envelope = SlackDriver("http://unused", "unused", slack).event_body(event)

    sent = await slack.socket.send("events_api", json.loads(envelope))

    assert sent.ack is not None
    (run,) = await slack.wait_for(
        lambda: [r for r in slack.function_runs if r.state != "running"], timeout=30
    )
    assert run.state == "completed" and run.outputs is not None
    (image,) = [f for f in slack.files if f["permalink"] == run.outputs["permalink"]]
    assert image["user"] == slack.bot_user_id

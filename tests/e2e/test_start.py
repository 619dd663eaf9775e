"""Starting and stopping: a start that cannot work ends within 5 s with one line naming the
cause and nothing left open; SIGTERM ends the bot in every state; /healthz follows Slack."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot import app as app_module
from bot.app import build_app, open_services
from bot.config import Settings
from bot.testing.fal.standin import FalStandIn
from bot.testing.harness import bot_env, running_bot
from bot.testing.slack.standin import SlackStandIn
from tests.helpers import BotProcess, free_port, wait_until

pytestmark = pytest.mark.slow
START_SECONDS = 5.0


def imagebot(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> tuple[subprocess.CompletedProcess[str], float]:
    """`imagebot ARGS` in its own process, with only `env` as its settings; and its run time."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "IMAGEBOT_", "FAL_KEY", "PORT"))
    }
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "bot", *args], env={**clean, **env}, cwd=cwd,
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    return done, time.monotonic() - started


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


async def failed_start(args: list[str], env: dict[str, str], cwd: Path) -> str:
    done, seconds = await asyncio.to_thread(imagebot, args, env, cwd)
    assert done.returncode != 0, done.stderr
    assert seconds < START_SECONDS, f"took {seconds:.1f} s: {done.stderr}"
    return one_line(done)


@pytest.fixture
def env(slack: SlackStandIn, tmp_path: Path) -> dict[str, str]:
    return bot_env(slack, tmp_path, IMAGEBOT_PROVIDER="mock")


async def test_a_port_in_use_stops_the_start(env: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        line = await failed_start(
            ["run", "--http", "--host", "127.0.0.1", "--port", port], env, tmp_path
        )
    assert (
        line
        == f"imagebot: cannot listen on 127.0.0.1:{port}: the port is in use (is another imagebot running? try --port)"
    )


async def test_a_file_that_is_not_a_database_stops_the_start(
    env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "imagebot.db").write_text("these are my notes, not a database\n" * 100)
    line = await failed_start(["run", "--http", "--port", str(free_port())], env, tmp_path)
    assert (
        line
        == f"imagebot: IMAGEBOT_DATABASE_URL: {tmp_path / 'imagebot.db'} is not an SQLite database"
    )
    assert (tmp_path / "imagebot.db").read_text().startswith("these are my notes")


async def test_a_token_slack_rejects_stops_the_start(env: dict[str, str], tmp_path: Path) -> None:
    env["SLACK_BOT_TOKEN"] = "xoxb-0000-not-this-workspace"
    line = await failed_start(["run", "--http", "--port", str(free_port())], env, tmp_path)
    assert line.startswith("imagebot: Slack rejected SLACK_BOT_TOKEN (invalid_auth)")
    assert "xoxb-0000" not in line


async def test_an_app_token_slack_rejects_stops_the_start(
    env: dict[str, str], tmp_path: Path
) -> None:
    env["SLACK_APP_TOKEN"] = "xapp-0000-not-this-app"
    line = await failed_start(["run"], env, tmp_path)
    assert line.startswith("imagebot: Slack rejected SLACK_APP_TOKEN (invalid_auth)")


async def test_an_unreachable_slack_is_named_with_its_url(
    env: dict[str, str], tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}/api/"
    env["SLACK_API_URL"] = url
    line = await failed_start(["run", "--http", "--port", str(free_port())], env, tmp_path)
    assert line.startswith(f"imagebot: cannot reach Slack at {url} (")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["run", "--http", "--port", "99999"], "'99999' is not a port"),
        (["run", "--http", "--host", "999.1.1.1"], "'999.1.1.1' is not an IP address"),
        (["report", "--since", "yesterday"], "'yesterday' is not a date"),
    ],
)
async def test_a_bad_argument_is_one_line(
    env: dict[str, str], tmp_path: Path, args: list[str], named: str
) -> None:
    line = await failed_start(args, env, tmp_path)
    assert named in line and line.endswith("--help)")


@pytest.mark.parametrize("content", [b"", b"not a database at all" * 10])
async def test_report_refuses_a_file_it_cannot_read_and_leaves_it_as_it_was(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "empty.db"
    path.write_bytes(content)
    env = {"IMAGEBOT_DATABASE_URL": f"sqlite:///{path}"}
    line = await failed_start(["report"], env, tmp_path)
    assert line.startswith(f"imagebot: IMAGEBOT_DATABASE_URL: {path} is not")
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]


async def test_a_socket_mode_bot_stops_on_sigterm_while_slack_is_unreachable(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path
) -> None:
    health = str(tmp_path / "health.json")
    env = bot_env(
        slack, tmp_path, FAL_KEY=fal.key, SLACK_APP_TOKEN=slack.app_token,
        IMAGEBOT_HEALTH_FILE=health,
    )  # fmt: skip
    env.pop("SLACK_SIGNING_SECRET")
    log = tmp_path / "bot.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"], env={**os.environ, **env}, cwd=tmp_path,
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        await slack.socket.wait_connected(30)
        await wait_until(lambda: Path(health).exists(), 30, what="the health file")
        checked, _ = await asyncio.to_thread(
            imagebot, ["health"], {"IMAGEBOT_HEALTH_FILE": health}, tmp_path
        )
        assert (checked.returncode, checked.stdout) == (0, "healthy\n"), checked.stderr
        await slack.stop()  # Slack goes away: the bot keeps trying to connect, backing off
        await wait_until(
            lambda: log.read_text().count("cannot connect to Slack") >= 2, 40,
            what="two failed attempts to reconnect",
        )  # fmt: skip
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        await wait_until(lambda: proc.poll() is not None, 30, what="the bot to exit")
        seconds = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    text = log.read_text()
    assert seconds < 10 and proc.returncode == 0, text
    assert "Traceback" not in text
    attempts = [line for line in text.splitlines() if "cannot connect to Slack" in line]
    assert "trying again in 1 s" in attempts[0] and "trying again in 2 s" in attempts[1]


async def test_sigint_stops_a_bot_that_is_still_starting(
    slack: SlackStandIn, tmp_path: Path
) -> None:
    # auth.test is held back: the bot is stuck in its start when the signal comes.
    slack.stall("auth.test", 60)
    env = bot_env(slack, tmp_path, IMAGEBOT_PROVIDER="mock")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--http", "--port", str(free_port())],
        env={**os.environ, **env}, cwd=tmp_path, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        await slack.wait_for(lambda: slack.calls_to("auth.test"), 30)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        await wait_until(lambda: proc.poll() is not None, 30, what="the bot to exit")
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 10
    assert proc.returncode == 0 and b"Traceback" not in err


async def test_imagebot_health_asks_an_http_bot_its_healthz(
    slack: SlackStandIn, tmp_path: Path
) -> None:
    health = {"IMAGEBOT_HEALTH_FILE": str(tmp_path / "health.json")}
    bot = BotProcess(bot_env(slack, tmp_path, IMAGEBOT_PROVIDER="mock", **health), tmp_path)
    try:
        await bot.start()
        await wait_until(lambda: (tmp_path / "health.json").exists(), 30, what="the health file")
        up, _ = await asyncio.to_thread(imagebot, ["health"], health, tmp_path)
        url = f"http://127.0.0.1:{bot.port}/healthz"
        direct, _ = await asyncio.to_thread(imagebot, ["health", "--url", url], {}, tmp_path)
        await bot.terminate()
        down, _ = await asyncio.to_thread(imagebot, ["health"], health, tmp_path)
    finally:
        bot.stop()
    assert (up.returncode, up.stdout, direct.returncode) == (0, "healthy\n", 0)
    assert down.returncode == 1 and down.stdout.startswith(f"unhealthy: {url} did not answer")


async def test_healthz_says_when_slack_stops_accepting_the_token(
    slack: SlackStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "SLACK_HEALTH_SECONDS", 0.0)
    env = bot_env(slack, tmp_path, IMAGEBOT_PROVIDER="mock")
    async with running_bot(slack, env) as bot, httpx.AsyncClient() as client:
        healthy = await client.get(f"{bot.url}/healthz")
        slack.fail("auth.test", "token_revoked", times=None)
        revoked = await client.get(f"{bot.url}/healthz")
    assert healthy.status_code == 200 and healthy.json()["slack"] is True
    assert revoked.status_code == 503 and revoked.json()["slack"] is False


async def test_bolt_does_not_warn_about_a_token_it_was_given_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")
    settings = Settings.model_validate(
        {"SLACK_BOT_TOKEN": "xoxb-from-the-environment", "IMAGEBOT_PROVIDER": "mock",
         "IMAGEBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    )  # fmt: skip
    services = await open_services(settings)
    try:
        with caplog.at_level(logging.WARNING):
            build_app(services)
    finally:
        await services.close()
    assert "will be unused" not in caplog.text


@pytest.mark.parametrize(
    ("state", "verdict"),
    [
        ({"ok": True, "mode": "socket", "age": 5}, "healthy"),
        ({"ok": False, "slack": False, "socket": False, "mode": "socket", "age": 5},
         "unhealthy: not ready: slack, socket"),
        ({"ok": True, "mode": "socket", "age": 120}, "unhealthy: the bot last wrote its health 12"),
        (None, "unhealthy: no health written to"),
    ],
)  # fmt: skip
async def test_imagebot_health_reads_the_socket_mode_health_file(
    tmp_path: Path, state: dict[str, object] | None, verdict: str
) -> None:
    path = tmp_path / "health.json"
    if state is not None:
        age = timedelta(seconds=float(str(state.pop("age"))))
        path.write_text(json.dumps({**state, "at": (datetime.now(UTC) - age).isoformat()}))
    done, _ = await asyncio.to_thread(
        imagebot, ["health"], {"IMAGEBOT_HEALTH_FILE": str(path)}, tmp_path
    )
    assert done.stdout.startswith(verdict) and done.returncode == (0 if verdict == "healthy" else 1)

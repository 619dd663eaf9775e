"""The benchmark rig: the stand-ins in background threads, the bot as a real process, and
signed requests sent the way Slack sends them."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.testing.fal.standin import FalStandIn
from bot.testing.harness import SIGNING_SECRET, bot_env
from bot.testing.process import BotProcess
from bot.testing.slack.driver import SlackDriver
from bot.testing.slack.standin import SlackStandIn


@dataclass
class Figure:
    """One line of the results table."""

    name: str
    target: str
    measured: str
    passed: bool
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)


async def fal_standin() -> FalStandIn:
    """A fal stand-in on a port fixed up front: fal-client reads its host when imported, so
    the environment must name it before anything imports fal_client.

    The stand-ins serve from the benchmark's own event loop: threads would hand the GIL to
    one another on every request and add that wait to what is measured as the bot's time.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    fal = FalStandIn(port=port)
    os.environ["FAL_RUN_HOST"] = os.environ["FAL_QUEUE_RUN_HOST"] = f"127.0.0.1:{port}"
    os.environ["SSL_CERT_FILE"] = fal.ca_path
    os.environ["IMAGEBOT_FAL_API_URL"] = fal.api_url
    await fal.start()
    return fal


class Rig:
    """A bot process wired to the stand-ins, in a throwaway folder."""

    def __init__(self, fal: FalStandIn, **env: str) -> None:
        self.fal = fal
        self.env = env
        self.slack = SlackStandIn()
        for number in range(200):
            self.slack.add_user(f"U{number:04d}", f"person{number}")
        self.folder = Path(tempfile.mkdtemp(prefix="imagebot-bench-"))
        self.bot = BotProcess({}, self.folder)
        self.driver = SlackDriver(self.bot.events_url, SIGNING_SECRET, self.slack)

    async def start(self) -> None:
        await self.slack.start()  # its address goes into the bot's settings
        settings = bot_env(self.slack, self.folder, FAL_KEY=self.fal.key)
        settings.update(IMAGEBOT_LOG_LEVEL="WARNING", IMAGEBOT_PROGRESS_INTERVAL_SECONDS="3")
        self.bot.env.update(settings | self.env)
        await self.bot.start()

    async def close(self) -> None:
        await self.driver.close()
        self.bot.stop()
        await self.slack.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def database(self) -> Path:
        return self.folder / "imagebot.db"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

"""Shared fixtures: the fal queue stand-in (one per session, TLS, trusted through SSL_CERT_FILE),
a Slack stand-in per test, and the bot itself running against both."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings as hypothesis_settings

from bot.testing.fal.standin import FalBehaviour, FalStandIn

if TYPE_CHECKING:
    from bot.testing.harness import RunningBot
    from bot.testing.slack.standin import SlackStandIn

# CI runs the same examples every time (a fixed seed), so a red run can be replayed and a green
# one is not luck; a developer's run explores new ones. HYPOTHESIS_PROFILE picks one (CI sets
# CI=true, which picks "ci").
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# fal-client reads its hosts from the environment when first imported, so the stand-in's
# address and CA must be in place before any test module imports it.
FAL = FalStandIn(port=_free_port())
os.environ["FAL_RUN_HOST"] = f"127.0.0.1:{FAL.port}"
os.environ["FAL_QUEUE_RUN_HOST"] = f"127.0.0.1:{FAL.port}"
os.environ["IMAGEBOT_FAL_API_URL"] = FAL.api_url
os.environ["SSL_CERT_FILE"] = FAL.ca_path
os.environ.pop("SSL_CERT_DIR", None)
FAL_KEY = FAL.key


@pytest.fixture(scope="session")
def fal_server() -> Iterator[FalStandIn]:
    FAL.start_in_thread()
    yield FAL
    FAL.stop_in_thread()


@pytest.fixture
def fal(fal_server: FalStandIn) -> Iterator[FalStandIn]:
    fal_server.reset()
    yield fal_server
    refused = fal_server.unexpected_schema_errors()
    fal_server.reset()
    # Every submit of every test must fit the endpoint's published schema.
    assert not refused, f"submits outside fal's schema: {refused}"


@pytest.fixture
async def slack() -> AsyncIterator[object]:
    from bot.testing.slack.standin import SlackStandIn

    standin = SlackStandIn()
    await standin.start()
    yield standin
    await standin.stop()


@pytest.fixture
async def bot(slack: SlackStandIn, fal: FalStandIn, tmp_path: Path) -> AsyncIterator[RunningBot]:
    """The bot on its default settings against both stand-ins, fal answering in 0.2 s. A module
    that needs other settings (admins, a budget, a slower fal) defines its own `bot`."""
    from bot.testing.harness import bot_env, running_bot

    fal.default = FalBehaviour(run_seconds=0.2)
    async with running_bot(slack, bot_env(slack, tmp_path, FAL_KEY=fal.key)) as running:
        yield running


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path

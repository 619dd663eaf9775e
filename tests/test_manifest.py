"""manifest.yml declares exactly what the handlers answer, with the scopes the bot needs."""

from __future__ import annotations

from pathlib import Path

import yaml
from slack_bolt.async_app import AsyncApp

import handlers
from bot.app import open_services
from bot.config import Settings

MANIFEST = yaml.safe_load((Path(__file__).parent.parent / "manifest.yml").read_text())
# Scopes behind the Web API methods and events the bot uses.
NEEDED_SCOPES = {
    "chat:write", "commands", "files:write", "files:read", "channels:join", "users:read",
    "im:write", "app_mentions:read", "channels:history", "groups:history", "im:history",
    "mpim:history",
}  # fmt: skip


async def registered(tmp_path: Path) -> handlers.Registered:
    settings = Settings.model_validate(
        {
            "SLACK_BOT_TOKEN": "xoxb-test",
            "IMAGEBOT_PROVIDER": "mock",
            "IMAGEBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        }
    )
    services = await open_services(settings)
    try:
        app = AsyncApp(client=services.slack.client, signing_secret="unused")
        return handlers.register(app, services)
    finally:
        await services.close()


async def test_commands_and_shortcuts_match_both_ways(tmp_path: Path) -> None:
    found = await registered(tmp_path)
    features = MANIFEST["features"]
    assert {c["command"] for c in features["slash_commands"]} == found.commands
    assert {s["callback_id"] for s in features["shortcuts"]} == found.shortcuts


async def test_events_interactivity_and_home_are_declared(tmp_path: Path) -> None:
    found = await registered(tmp_path)
    settings = MANIFEST["settings"]
    declared = {event.split(".")[0] for event in settings["event_subscriptions"]["bot_events"]}
    assert declared == found.events
    assert settings["interactivity"]["is_enabled"] is bool(found.actions or found.views)
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is (
        "app_home_opened" in found.events
    )
    assert settings["socket_mode_enabled"] is True


def test_scopes_cover_what_the_bot_calls() -> None:
    assert set(MANIFEST["oauth_config"]["scopes"]["bot"]) >= NEEDED_SCOPES

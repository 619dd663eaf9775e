"""manifest.yml declares exactly what the handlers answer, and exactly the scopes the code
needs: each Web API method and event the bot uses is mapped to the scopes Slack's docs name."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from slack_bolt.async_app import AsyncApp

import handlers
from bot.app import open_services, register_handlers
from bot.config import Settings
from bot.domain.periods import PERIOD_HELP
from bot.money.admin import ADMIN_HELP
from bot.requests.workflow import StepRun
from bot.store.ledger import GROUPINGS
from handlers.payloads import step_run

ROOT = Path(__file__).parent.parent.parent
# The "Generate an image" step's inputs, as handlers/payloads.py reads them.
STEP_INPUTS = {
    "prompt": "string",
    "model": "string",
    "channel": "slack#/types/channel_id",
    "user": "slack#/types/user_context",
}
MANIFEST = yaml.safe_load((ROOT / "manifest.yml").read_text())
# Bot scopes per Web API method, from each method's page in Slack's API reference.
METHOD_SCOPES: dict[str, set[str]] = {
    "auth.test": set(),
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    "chat.postEphemeral": {"chat:write"},
    "conversations.join": {"channels:join"},
    "conversations.open": {"im:write"},
    # Cards live in public and private channels, DMs and group DMs: each kind has its scope.
    "conversations.history": {"channels:history", "groups:history", "im:history", "mpim:history"},
    "conversations.replies": {"channels:history", "groups:history", "im:history", "mpim:history"},
    "files.info": {"files:read"},
    "files.delete": {"files:write"},
    "files.getUploadURLExternal": {"files:write"},
    "files.completeUploadExternal": {"files:write"},
    "users.info": {"users:read"},
    "views.open": set(),
    "views.publish": set(),
    "apps.connections.open": set(),  # the app-level token's connections:write, not a bot scope
    # SlackOut's names, in its errors, for a files_upload_v2 upload and a url_private download.
    "files.upload": {"files:write"},
    "files.download": {"files:read"},
}
# slack-sdk calls these for us; downloading url_private needs files:read.
CALLED_FOR_US = {
    "files_upload_v2": {"files.getUploadURLExternal", "files.completeUploadExternal"},
    "apps_connections_open": {"apps.connections.open"},
}
EVENT_SCOPES = {
    "app_mention": {"app_mentions:read"},
    "message.channels": {"channels:history"},
    "message.groups": {"groups:history"},
    "message.im": {"im:history"},
    "message.mpim": {"mpim:history"},
    "app_home_opened": set(),
    "function_executed": set(),  # a custom step's runs need no scope (Slack's event reference)
}
_FAMILIES = (
    "auth|chat|conversations|files|users|views|reactions|apps|team|pins|bookmarks|usergroups"
)
_METHOD = re.compile(rf"""["']((?:{_FAMILIES})\.[a-zA-Z]+(?:\.[a-zA-Z]+)?)["']""")


def methods_in_code() -> set[str]:
    found: set[str] = set()
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/*.py")]:
        if "testing" in path.parts:
            continue
        source = path.read_text()
        found |= {m for m in _METHOD.findall(source) if not m.endswith(".com")}
        for call, methods in CALLED_FOR_US.items():
            if call in source:
                found |= methods
    return found


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
        return register_handlers(app, services)
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


async def test_custom_steps_match_both_ways_with_the_inputs_the_handler_reads(
    tmp_path: Path,
) -> None:
    found = await registered(tmp_path)
    functions = MANIFEST.get("functions") or {}
    assert set(functions) == found.functions == {"generate_image"}
    step = functions["generate_image"]
    inputs = step["input_parameters"]
    assert set(inputs) == set(STEP_INPUTS)
    assert {name: spec["type"] for name, spec in inputs.items()} == STEP_INPUTS
    assert set(step["output_parameters"]) == {"permalink"}
    assert MANIFEST["settings"]["org_deploy_enabled"] is True  # custom steps need org-ready apps
    event = {"function_execution_id": "Fx1", "inputs": {
        "prompt": "a kite", "model": "seedream", "channel": "C1", "user": {"id": "U1"}}}  # fmt: skip
    assert step_run(event, "T1") == StepRun("Fx1", "U1", "C1", "T1", "a kite", "seedream")


def test_every_method_the_code_calls_has_known_scopes() -> None:
    used = methods_in_code()
    assert used - METHOD_SCOPES.keys() == set(), "map the new Web API methods to their scopes"
    assert {"chat.postMessage", "users.info", "files.completeUploadExternal"} <= used


def test_scopes_are_exactly_what_the_code_and_events_need() -> None:
    needed = {"commands", "files:read"}  # slash commands; downloading people's files
    for method in methods_in_code():
        needed |= METHOD_SCOPES[method]
    for event in MANIFEST["settings"]["event_subscriptions"]["bot_events"]:
        needed |= EVENT_SCOPES[event]
    assert set(MANIFEST["oauth_config"]["scopes"]["bot"]) == needed


def test_the_admin_usage_hint_offers_what_the_command_takes() -> None:
    (admin,) = [c for c in MANIFEST["features"]["slash_commands"] if c["command"] == "/image-admin"]
    hint = admin["usage_hint"]
    for period in PERIOD_HELP.replace(" or ", ", ").split(", "):
        assert period in hint, period
    assert f"--by {'|'.join(GROUPINGS)}" in hint and f"--by {'|'.join(GROUPINGS)}" in ADMIN_HELP
    assert "<usd|none|reset>" in hint and "<usd|none|reset>" in ADMIN_HELP

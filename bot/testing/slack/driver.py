"""Plays Slack's side of the conversation with a running bot: slash commands, events and
interactions, posted to the bot's HTTP endpoint and signed the way Slack signs them."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

from bot.testing.slack.models import ViewCall
from bot.testing.slack.standin import SlackStandIn

APP_ID = "A0IMAGEBOT"


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class SlackDriver:
    """Sends what Slack would send to the bot at `url` (its /slack/events endpoint)."""

    def __init__(self, url: str, signing_secret: str, slack: SlackStandIn) -> None:
        self.url = url
        self.signing_secret = signing_secret
        self.slack = slack
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def sign(self, body: str, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = SignatureVerifier(self.signing_secret).generate_signature(
            timestamp=stamp, body=body
        )
        return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature or ""}

    async def post(
        self, body: str, content_type: str, headers: dict[str, str] | None = None
    ) -> Reply:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        sent = {
            "Content-Type": content_type,
            **(headers if headers is not None else self.sign(body)),
        }
        started = time.monotonic()
        async with self._session.post(self.url, data=body.encode(), headers=sent) as response:
            text = await response.text()
            return Reply(response.status, text, time.monotonic() - started)

    # --- payloads in the shapes Slack publishes (tests/contract holds them, with sources) ----

    def command_body(
        self, command: str, text: str, *, user: str = "U0ALICE", channel: str = "C0GENERAL"
    ) -> str:
        return urlencode(
            {
                "token": "unused-verification-token",
                "team_id": self.slack.team_id,
                "team_domain": "imagebot-test",
                "enterprise_id": "E0TEST",
                "enterprise_name": "Imagebot Test Org",
                "channel_id": channel,
                "channel_name": "general",
                "user_id": user,
                "user_name": user.lower(),
                "command": command,
                "text": text,
                "response_url": self.slack.response_url(),
                "trigger_id": self.slack.trigger_id(ttl=None),
                "api_app_id": APP_ID,
            }
        )

    async def command(
        self, command: str, text: str, *, user: str = "U0ALICE", channel: str = "C0GENERAL"
    ) -> Reply:
        body = self.command_body(command, text, user=user, channel=channel)
        return await self.post(body, "application/x-www-form-urlencoded")

    def event_body(self, event: dict[str, Any], event_id: str | None = None) -> str:
        envelope = {
            "token": "unused-verification-token",
            "team_id": self.slack.team_id,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or "Ev" + secrets.token_hex(5).upper(),
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.slack.team_id,
                    "user_id": self.slack.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-" + secrets.token_hex(8),
        }
        return json.dumps(envelope)

    async def event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None
    ) -> Reply:
        body = self.event_body(event, event_id)
        headers = self.sign(body)
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        return await self.post(body, "application/json", headers)

    async def run_step(
        self, callback_id: str, inputs: dict[str, Any], function: dict[str, Any]
    ) -> tuple[Reply, str]:
        """Workflow Builder runs a custom step: Slack sends `function_executed` (with the run's
        workflow token) as an Events API delivery. The run's execution id comes back too."""
        event = self.slack.function_executed(callback_id, inputs, function, APP_ID)
        return await self.event(event), str(event["function_execution_id"])

    async def interaction(self, payload: dict[str, Any]) -> Reply:
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded")

    def user_block(self, user: str) -> dict[str, str]:
        return {
            "id": user,
            "username": user.lower(),
            "name": user.lower(),
            "team_id": self.slack.team_id,
        }

    def team_block(self) -> dict[str, str]:
        return {
            "id": self.slack.team_id,
            "domain": "imagebot-test",
            "enterprise_id": "E0TEST",
            "enterprise_name": "Imagebot Test Org",
        }

    def message_event(
        self,
        message: dict[str, Any],
        *,
        channel: str = "C0GENERAL",
        channel_type: str = "channel",
        kind: str = "message",
    ) -> dict[str, Any]:
        """The event Slack sends for a stored message: a `message` (with files, the
        `file_share` shape) or an `app_mention`."""
        ts, text = message["ts"], message.get("text", "")
        event: dict[str, Any] = {
            "type": kind,
            "channel": channel,
            "user": message.get("user"),
            "text": text,
            "ts": ts,
            "event_ts": ts,
        }
        if kind == "message":
            event["channel_type"] = channel_type
        if message.get("files"):
            event.update(files=message["files"], upload=False)
            if kind == "message":
                event.update(
                    display_as_bot=False,
                    blocks=_rich_text(text),
                    client_msg_id=str(uuid.uuid4()),
                    subtype="file_share",
                )
        if message.get("thread_ts") not in (None, ts):
            event.update(
                thread_ts=message["thread_ts"], parent_user_id=message.get("parent_user_id")
            )
        for key in ("bot_id", "subtype"):
            if message.get(key) is not None:
                event[key] = message[key]
        return event

    def home_opened(self, user: str) -> dict[str, Any]:
        """`app_home_opened` for the Home tab, with the view last published there, if any."""
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user,
            "channel": self.slack.im_with(user),
            "event_ts": f"{time.time():.6f}",
            "tab": "home",
        }
        published = [
            v for v in self.slack.views if v.method == "views.publish" and v.user_id == user
        ]
        if published:
            event["view"] = {"id": published[-1].view_id, **published[-1].view}
        return event

    async def say(
        self,
        text: str,
        *,
        user: str = "U0ALICE",
        channel: str = "C0GENERAL",
        thread_ts: str | None = None,
        files: list[dict[str, Any]] | None = None,
        channel_type: str = "channel",
        also_mention: bool = False,
    ) -> dict[str, Any]:
        """A person writes a message: it is stored in Slack and its event(s) are delivered."""
        message = self.slack.add_message(
            channel, text, user=user, thread_ts=thread_ts, files=files or None
        )
        await self.event(self.message_event(message, channel=channel, channel_type=channel_type))
        if also_mention:
            mention = self.message_event(message, channel=channel, kind="app_mention")
            await self.event(mention)
        return message

    async def press(
        self,
        action_id: str,
        value: str,
        *,
        message_ts: str,
        user: str = "U0ALICE",
        channel: str = "C0GENERAL",
    ) -> Reply:
        payload = {
            "type": "block_actions",
            "user": self.user_block(user),
            "api_app_id": APP_ID,
            "token": "unused-verification-token",
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "trigger_id": self.slack.trigger_id(ttl=None),
            "team": self.team_block(),
            "channel": {"id": channel, "name": channel.lower()},
            "message": {"type": "message", "ts": message_ts, "user": self.slack.bot_user_id},
            "response_url": self.slack.response_url(),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": f"job:{value}",
                    "text": {"type": "plain_text", "text": action_id, "emoji": True},
                    "value": value,
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        return await self.interaction(payload)

    async def pick(
        self, view: ViewCall, action_id: str, value: str, *, user: str = "U0ALICE"
    ) -> Reply:
        """Choose `value` in a select menu of a published App Home view (a block_actions
        payload from a view container, as Slack sends it)."""
        found = [
            (block, element)
            for block in view.view.get("blocks", [])
            for element in block.get("elements", [])
            if element.get("action_id") == action_id
        ]
        block, element = found[0]
        (chosen,) = [o for o in element["options"] if o["value"] == value]
        payload = {
            "type": "block_actions",
            "user": self.user_block(user),
            "api_app_id": APP_ID,
            "token": "unused-verification-token",
            "container": {"type": "view", "view_id": view.view_id},
            "trigger_id": self.slack.trigger_id(ttl=None),
            "team": self.team_block(),
            "view": view.view | {"id": view.view_id},
            "actions": [
                {
                    "type": "static_select",
                    "action_id": action_id,
                    "block_id": block.get("block_id", ""),
                    "selected_option": chosen,
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        return await self.interaction(payload)

    async def shortcut(
        self,
        callback_id: str,
        message: dict[str, Any],
        *,
        user: str = "U0ALICE",
        channel: str = "C0GENERAL",
    ) -> tuple[Reply, str]:
        trigger = self.slack.trigger_id(ttl=None)
        payload = {
            "type": "message_action",
            "token": "unused-verification-token",
            "action_ts": f"{time.time():.6f}",
            "team": self.team_block(),
            "user": {"id": user, "name": user.lower()},
            "channel": {"id": channel, "name": channel.lower()},
            "callback_id": callback_id,
            "trigger_id": trigger,
            "message_ts": message["ts"],
            "message": message,
            "response_url": self.slack.response_url(),
        }
        return await self.interaction(payload), trigger

    async def submit_view(
        self, view: dict[str, Any], values: dict[str, str | None], *, user: str = "U0ALICE"
    ) -> Reply:
        """Submit a modal: `view` is the one opened (its id added), `values` by block id (a
        menu's value must be one of its options, as a person can only pick those)."""
        state = {block: _input_state(view, block, value) for block, value in values.items()}
        view_id = view.get("id") or "V" + secrets.token_hex(4).upper()
        payload = {
            "type": "view_submission",
            "team": self.team_block(),
            "user": self.user_block(user),
            "api_app_id": APP_ID,
            "token": "unused-verification-token",
            "trigger_id": self.slack.trigger_id(ttl=None),
            "view": {
                "id": view_id,
                "team_id": self.slack.team_id,
                "type": "modal",
                "blocks": view.get("blocks", []),
                "private_metadata": view.get("private_metadata", ""),
                "callback_id": view.get("callback_id", ""),
                "state": {"values": state},
                "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
                "title": view.get("title"),
                "clear_on_close": False,
                "notify_on_close": False,
                "close": view.get("close"),
                "submit": view.get("submit"),
                "previous_view_id": None,
                "root_view_id": view_id,
                "app_id": APP_ID,
                "external_id": "",
                "app_installed_team_id": self.slack.team_id,
                "bot_id": self.slack.bot_id,
            },
            "response_urls": [],
        }
        return await self.interaction(payload)


def _input_state(view: dict[str, Any], block_id: str, value: str | None) -> dict[str, Any]:
    """An input's entry in `view.state.values`, keyed by its element's action_id, in the shape
    Slack gives each element type (docs.slack.dev/reference/interaction-payloads/
    view-interactions-payload: plain_text_input `value`, static_select `selected_option`,
    conversations_select `selected_conversation`)."""
    blocks = [b for b in view.get("blocks", []) if b.get("block_id") == block_id]
    element: dict[str, Any] = (
        blocks[0]["element"] if blocks else {"type": "plain_text_input", "action_id": "value"}
    )
    kind, action_id = str(element["type"]), str(element.get("action_id", "value"))
    if kind == "static_select":
        chosen = [o for o in element["options"] if o["value"] == value]
        if value is not None and not chosen:
            raise ValueError(f"{value!r} is not an option of {block_id}")
        entry = {"type": kind, "selected_option": chosen[0] if chosen else None}
    elif kind == "conversations_select":
        entry = {"type": kind, "selected_conversation": value}
    else:
        entry = {"type": kind, "value": value}
    return {action_id: entry}


def _rich_text(text: str) -> list[dict[str, Any]]:
    """The blocks Slack's clients attach to what a person types."""
    section = {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
    return [{"type": "rich_text", "block_id": secrets.token_hex(2), "elements": [section]}]

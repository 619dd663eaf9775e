"""Plays Slack's side of the conversation with a running bot: slash commands, events and
interactions, posted to the bot's HTTP endpoint and signed the way Slack signs them."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

from bot.testing.slack_standin import SlackStandIn


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

    def command_body(
        self, command: str, text: str, *, user: str = "U0ALICE", channel: str = "C0GENERAL"
    ) -> str:
        return urlencode(
            {
                "token": "unused-verification-token",
                "team_id": self.slack.team_id,
                "team_domain": "imagebot-test",
                "channel_id": channel,
                "channel_name": "general",
                "user_id": user,
                "user_name": user.lower(),
                "command": command,
                "text": text,
                "api_app_id": "A0IMAGEBOT",
                "is_enterprise_install": "false",
                "response_url": self.slack.response_url(),
                "trigger_id": self.slack.trigger_id(ttl=None),
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
            "api_app_id": "A0IMAGEBOT",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or "Ev" + secrets.token_hex(5).upper(),
            "event_time": int(time.time()),
            "authorizations": [
                {"team_id": self.slack.team_id, "user_id": self.slack.bot_user_id, "is_bot": True}
            ],
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

    # --- payloads shaped like Slack's ------------------------------------------------------

    def message_event(
        self,
        message: dict[str, Any],
        *,
        channel: str = "C0GENERAL",
        channel_type: str = "channel",
        kind: str = "message",
    ) -> dict[str, Any]:
        """The event Slack sends for a stored message (one the stand-in holds)."""
        event = {
            "type": kind,
            "channel": channel,
            "user": message.get("user"),
            "text": message.get("text", ""),
            "ts": message["ts"],
            "event_ts": message["ts"],
            "team": self.slack.team_id,
        }
        if kind == "message":
            event["channel_type"] = channel_type
        for key in ("thread_ts", "files", "bot_id", "subtype"):
            if message.get(key) is not None:
                event[key] = message[key]
        if message.get("files") and "subtype" not in event:
            event["subtype"] = "file_share"
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
            "api_app_id": "A0IMAGEBOT",
            "token": "unused-verification-token",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
            "trigger_id": self.slack.trigger_id(ttl=None),
            "team": {"id": self.slack.team_id, "domain": "imagebot-test"},
            "channel": {"id": channel, "name": channel.lower()},
            "message": {"type": "message", "ts": message_ts},
            "response_url": self.slack.response_url(),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": f"job:{value}",
                    "value": value,
                    "type": "button",
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
            "team": {"id": self.slack.team_id, "domain": "imagebot-test"},
            "user": self.user_block(user),
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
        state = {
            block: {"value": {"type": "plain_text_input", "value": value}}
            for block, value in values.items()
        }
        payload = {
            "type": "view_submission",
            "team": {"id": self.slack.team_id, "domain": "imagebot-test"},
            "user": self.user_block(user),
            "api_app_id": "A0IMAGEBOT",
            "token": "unused-verification-token",
            "trigger_id": self.slack.trigger_id(ttl=None),
            "view": {
                **view,
                "id": view.get("id") or "V" + secrets.token_hex(4).upper(),
                "team_id": self.slack.team_id,
                "state": {"values": state},
                "hash": secrets.token_hex(8),
            },
        }
        return await self.interaction(payload)

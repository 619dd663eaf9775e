"""Messages: thread replies, mentions and DMs, read from Slack's events and handed to the bot.

A mention in a channel arrives twice (as `message` and as `app_mention`); both become the same
IncomingMessage, and the bot acts on it once.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext

from bot.requests.conversation import Conversation
from handlers.payloads import incoming
from handlers.registrar import Registrar


def register(on: Registrar, conversation: Conversation) -> None:
    async def on_message(
        event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        event_id = body.get("event_id")
        message = incoming(event, context.bot_user_id, context.team_id or "", event_id)
        if message is not None:
            await conversation.handle(message)

    on.event("message", on_message)
    on.event("app_mention", on_message)

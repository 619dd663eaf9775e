"""Messages: thread replies, mentions and DMs, read from Slack's events and handed to the bot.

A mention in a channel arrives twice (as `message` and as `app_mention`); both become the same
IncomingMessage, and the bot acts on it once.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from slack_bolt.context.async_context import AsyncBoltContext

from bot.requests.conversation import IncomingMessage, SharedFile
from handlers.registrar import Registrar
from handlers.slack_text import unescape

if TYPE_CHECKING:
    from bot.app import Services

# Edits and new files are what people send; every other subtype (changed, deleted, joins,
# bot messages...) is not for the bot.
HANDLED_SUBTYPES = (None, "file_share", "thread_broadcast")


def shared_files(event: dict[str, Any]) -> list[SharedFile]:
    files = []
    for item in event.get("files") or []:
        if not isinstance(item, dict) or not item.get("id"):
            continue
        files.append(
            SharedFile(
                id=str(item["id"]),
                name=str(item.get("name") or item.get("title") or "file"),
                mimetype=str(item.get("mimetype") or ""),
                size=int(item.get("size") or 0),
                url=str(item.get("url_private_download") or item.get("url_private") or ""),
            )
        )
    return files


def incoming(
    event: dict[str, Any], bot_user_id: str | None, team_id: str, event_id: str | None = None
) -> IncomingMessage | None:
    """The message as the bot sees it, or None when it is not a person's message."""
    if event.get("subtype") not in HANDLED_SUBTYPES or event.get("bot_id"):
        return None
    user = event.get("user")
    if not user or user == bot_user_id or not event.get("channel") or not event.get("ts"):
        return None
    text = str(event.get("text") or "")
    mention = f"<@{bot_user_id}>" if bot_user_id else None
    mentions_bot = event.get("type") == "app_mention" or bool(mention and mention in text)
    if mention:
        text = re.sub(rf"<@{re.escape(bot_user_id or '')}(\|[^>]*)?>", " ", text)
    return IncomingMessage(
        user_id=str(user),
        channel_id=str(event["channel"]),
        ts=str(event["ts"]),
        text=unescape(" ".join(text.split(" ")).strip()),
        team_id=str(event.get("team") or team_id),
        thread_ts=event.get("thread_ts"),
        is_dm=event.get("channel_type") == "im",
        mentions_bot=mentions_bot,
        files=shared_files(event),
        event_id=event_id,
    )


def register(on: Registrar, services: Services) -> None:
    async def on_message(
        event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        event_id = body.get("event_id")
        message = incoming(event, context.bot_user_id, context.team_id or "", event_id)
        if message is not None:
            await services.conversation.handle(message)

    on.event("message", on_message)
    on.event("app_mention", on_message)

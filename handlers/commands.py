"""Slash commands: `/image`, `/image-usage`, `/image-admin`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.domain.request import OptionError
from bot.requests.grammar import help_text, is_help, parse_request
from bot.requests.intake import Requester
from bot.slack.blockkit import escape
from handlers.registrar import Registrar
from handlers.slack_text import unescape

if TYPE_CHECKING:
    from bot.app import Services


def requester(command: dict[str, Any]) -> Requester:
    return Requester(
        user_id=command["user_id"],
        channel_id=command["channel_id"],
        team_id=command.get("team_id", ""),
        response_url=command.get("response_url"),
    )


def register(on: Registrar, services: Services) -> None:
    settings = services.settings

    async def image(ack: AsyncAck, command: dict[str, Any]) -> None:
        text = unescape(command.get("text") or "")
        if is_help(text):
            await ack(text=help_text(settings.default_quality), response_type="ephemeral")
            return
        try:
            request = parse_request(text, default_quality=settings.default_quality)
        except OptionError as exc:
            await ack(text=f":warning: {escape(exc.message)}", response_type="ephemeral")
            return
        await ack()
        await services.intake.submit(requester(command), request, origin="command")

    async def usage(ack: AsyncAck, command: dict[str, Any]) -> None:
        await ack()
        text, blocks = await services.spend.usage(command["user_id"])
        await services.intake.tell(requester(command), text, blocks)

    async def admin(ack: AsyncAck, command: dict[str, Any]) -> None:
        await ack()
        reply = await services.admin.run(command["user_id"], unescape(command.get("text") or ""))
        await services.intake.tell(requester(command), reply.text, reply.blocks)

    on.command("/image", image)
    on.command("/image-usage", usage)
    on.command("/image-admin", admin)

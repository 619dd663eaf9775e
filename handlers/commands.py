"""Slash commands: `/image`, `/image-usage`, `/image-admin`."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.domain.request import OptionError, Quality
from bot.money.admin import AdminCommand
from bot.money.spend import Spend
from bot.requests.grammar import help_text, is_help, parse_request
from bot.requests.intake import Intake
from bot.requests.model_admin import ModelAdmin
from bot.slack.blockkit import escape
from bot.slack.notifier import Notifier
from handlers.payloads import command_text, requester
from handlers.registrar import Registrar


def register(
    on: Registrar,
    intake: Intake,
    spend: Spend,
    admin: AdminCommand,
    notifier: Notifier,
    default_quality: Quality,
) -> None:
    model_admin = ModelAdmin(intake.models, admin.admins)

    async def image(ack: AsyncAck, command: dict[str, Any]) -> None:
        text = command_text(command)
        if is_help(text):
            await ack(text=help_text(default_quality), response_type="ephemeral")
            return
        if text.strip().lower() in ("models", "styles"):
            await ack()
            listing = (
                intake.models.listing
                if text.strip().lower() == "models"
                else (intake.models.style_listing)
            )
            await notifier.tell(requester(command), await listing())
            return
        try:
            request = parse_request(text, default_quality=None)
        except OptionError as exc:
            await ack(text=f":warning: {escape(exc.message)}", response_type="ephemeral")
            return
        await ack()
        await intake.submit(requester(command), request, origin="command")

    async def usage(ack: AsyncAck, command: dict[str, Any]) -> None:
        await ack()
        who = requester(command)
        text, blocks = await spend.usage(who.user_id)
        await notifier.tell(who, text, blocks)

    async def admin_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        await ack()
        who = requester(command)
        words = command_text(command).split()
        if words and words[0] in ("model", "style"):
            await notifier.tell(who, await model_admin.run(who.user_id, words))
            return
        reply = await admin.run(who.user_id, command_text(command))
        await notifier.tell(who, reply.text, reply.blocks)

    on.command("/image", image)
    on.command("/image-usage", usage)
    on.command("/image-admin", admin_command)

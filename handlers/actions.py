"""Buttons on cards, the Edit dialog, and the "Edit image" message shortcut."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.requests.controls import Click, Controls, ModalError
from bot.requests.intake import Requester
from bot.slack.views.card import ACTION_CANCEL, ACTION_EDIT, ACTION_HIGH_QUALITY, ACTION_REGENERATE
from bot.slack.views.modal import (
    EDIT_INPUT,
    EDIT_INSTRUCTION_BLOCK,
    EDIT_MODAL,
    EDIT_OPTIONS_BLOCK,
    EditOfFiles,
    EditOfJob,
    EditTarget,
)
from handlers.registrar import Registrar

if TYPE_CHECKING:
    from bot.app import Services

log = logging.getLogger(__name__)

EDIT_SHORTCUT = "imagebot_edit_image"


def click(body: dict[str, Any]) -> Click:
    action = (body.get("actions") or [{}])[0]
    container = body.get("container") or {}
    return Click(
        job_id=str(action.get("value") or ""),
        user_id=str((body.get("user") or {}).get("id") or ""),
        channel_id=str(container.get("channel_id") or (body.get("channel") or {}).get("id") or ""),
        message_ts=str(container.get("message_ts") or (body.get("message") or {}).get("ts") or ""),
        trigger_id=str(body.get("trigger_id") or ""),
        response_url=body.get("response_url"),
        team_id=str((body.get("team") or {}).get("id") or ""),
    )


def field(view: dict[str, Any], block_id: str) -> str:
    values = (view.get("state") or {}).get("values") or {}
    return str(((values.get(block_id) or {}).get(EDIT_INPUT) or {}).get("value") or "")


def edit_target(metadata: str) -> EditTarget | None:
    """What a submitted Edit dialog edits (bot.slack.views.modal wrote it), or None when its
    metadata is not one the bot wrote."""
    try:
        data = json.loads(metadata or "{}")
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if "job" in data:
        return EditOfJob(str(data["job"]), by_shortcut=data.get("by") == "shortcut")
    channel, thread, listed = data.get("channel"), data.get("thread"), data.get("files")
    if isinstance(channel, str) and isinstance(thread, str) and isinstance(listed, list):
        return EditOfFiles(channel, thread, tuple(str(file_id) for file_id in listed))
    return None


def message_of(shortcut: dict[str, Any]) -> tuple[Requester, str, str, list[str]]:
    """Who used the shortcut, and the message it was used on: its ts, thread and files."""
    message = shortcut.get("message") or {}
    who = Requester(
        user_id=str((shortcut.get("user") or {}).get("id") or ""),
        channel_id=str((shortcut.get("channel") or {}).get("id") or ""),
        team_id=str((shortcut.get("team") or {}).get("id") or ""),
        response_url=shortcut.get("response_url"),
    )
    files = [
        str(f["id"]) for f in message.get("files") or [] if isinstance(f, dict) and f.get("id")
    ]
    ts = str(message.get("ts") or "")
    return who, ts, str(message.get("thread_ts") or ts), files


def register(on: Registrar, services: Services) -> None:
    _buttons(on, services.controls)
    _edit_dialog(on, services.controls)


def _buttons(on: Registrar, controls: Controls) -> None:
    async def cancel(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await controls.cancel(click(body))

    async def regenerate(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await controls.again(click(body), high_quality=False)

    async def high_quality(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await controls.again(click(body), high_quality=True)

    async def edit(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await controls.open_edit(click(body))

    on.action(ACTION_CANCEL, cancel)
    on.action(ACTION_REGENERATE, regenerate)
    on.action(ACTION_HIGH_QUALITY, high_quality)
    on.action(ACTION_EDIT, edit)


def _edit_dialog(on: Registrar, controls: Controls) -> None:
    async def shortcut(ack: AsyncAck, shortcut: dict[str, Any]) -> None:
        await ack()
        who, ts, thread, files = message_of(shortcut)
        trigger = str(shortcut.get("trigger_id") or "")
        await controls.open_edit_for_message(who, trigger, ts, thread, files)

    async def submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        instruction, options = field(view, EDIT_INSTRUCTION_BLOCK), field(view, EDIT_OPTIONS_BLOCK)
        try:
            text = controls.check_modal(instruction, options)
        except ModalError as exc:
            await ack(response_action="errors", errors={EDIT_OPTIONS_BLOCK: exc.message[:150]})
            return
        await ack()
        user = body.get("user") or {}
        user_id = str(user.get("id") or "")
        target = edit_target(str(view.get("private_metadata") or ""))
        if target is None:
            log.warning("edit dialog with unreadable metadata ignored user=%s", user_id)
            return
        await controls.submit_modal(
            user_id,
            str(user.get("team_id") or ""),
            target,
            text,
            key=f"view:{view.get('id')}:{view.get('hash')}",
        )

    on.shortcut(EDIT_SHORTCUT, shortcut)
    on.view(EDIT_MODAL, submitted)

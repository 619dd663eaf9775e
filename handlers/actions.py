"""Buttons on cards, the Edit dialog, and the "Edit image" message shortcut."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.requests.controls import Controls, ModalError
from bot.slack.views.card import (
    ACTION_CANCEL,
    ACTION_EDIT,
    ACTION_FINAL,
    ACTION_HIGH_QUALITY,
    ACTION_REGENERATE,
)
from bot.slack.views.modal import EDIT_MODAL, EDIT_OPTIONS_BLOCK
from handlers.payloads import (
    click,
    dialog_text,
    edit_target,
    shortcut_message,
    submission_key,
    submitter,
    trigger,
)
from handlers.registrar import Registrar

log = logging.getLogger(__name__)

EDIT_SHORTCUT = "imagebot_edit_image"
# Slack shows an input's error under it; a short sentence is all there is room for.
ERROR_CHARS = 150


def register(on: Registrar, controls: Controls) -> None:
    _buttons(on, controls)
    _edit_dialog(on, controls)


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

    async def final(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await controls.final(click(body))

    on.action(ACTION_CANCEL, cancel)
    on.action(ACTION_REGENERATE, regenerate)
    on.action(ACTION_HIGH_QUALITY, high_quality)
    on.action(ACTION_EDIT, edit)
    on.action(ACTION_FINAL, final)


def _edit_dialog(on: Registrar, controls: Controls) -> None:
    async def shortcut(ack: AsyncAck, shortcut: dict[str, Any]) -> None:
        await ack()
        who, ts, thread, files = shortcut_message(shortcut)
        await controls.open_edit_for_message(who, trigger(shortcut), ts, thread, files)

    async def submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            text = controls.check_modal(*dialog_text(view))
        except ModalError as exc:
            errors = {EDIT_OPTIONS_BLOCK: exc.message[:ERROR_CHARS]}
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        user_id, team_id = submitter(body)
        target = edit_target(view)
        if target is None:
            log.warning("edit dialog with unreadable metadata ignored user=%s", user_id)
            return
        await controls.submit_modal(user_id, team_id, target, text, key=submission_key(view))

    on.shortcut(EDIT_SHORTCUT, shortcut)
    on.view(EDIT_MODAL, submitted)

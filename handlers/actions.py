"""Buttons on cards and under each image of a result, the Edit dialog, the "Edit image"
message shortcut, and App Home's model and style menus with the New image dialog they open."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.requests.controls import Click, Controls, ModalError
from bot.requests.details import Details
from bot.requests.image_actions import ImageActions
from bot.slack.notifier import Requester
from bot.slack.views.card import (
    ACTION_CANCEL,
    ACTION_DETAILS,
    ACTION_EDIT,
    ACTION_FINAL,
    ACTION_HIGH_QUALITY,
    ACTION_REGENERATE,
)
from bot.slack.views.home import HOME_MODEL_ACTION, HOME_STYLE_ACTION
from bot.slack.views.image_actions import (
    ACTION_IMAGE_EDIT,
    ACTION_IMAGE_MORE,
    ACTION_IMAGE_UPSCALE,
)
from bot.slack.views.modal import EDIT_MODAL, NEW_MODAL
from handlers.payloads import (
    click,
    dialog_channel,
    dialog_choices,
    dialog_text,
    edit_target,
    image_click,
    menu_pick,
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


def register(
    on: Registrar, controls: Controls, image_actions: ImageActions, details: Details
) -> None:
    _buttons(on, controls)
    _image_buttons(on, image_actions)

    async def show_details(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await details.from_button(click(body))

    on.action(ACTION_DETAILS, show_details)
    _edit_dialog(on, controls)
    _new_dialog(on, controls)


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


def _image_buttons(on: Registrar, image_actions: ImageActions) -> None:
    """Edit, More like this and Upscale under each image: action ids end in the image's
    number (`imagebot_image_edit:3`), so one listener serves every image."""

    def pressed(act: Callable[[Click, int], Awaitable[None]]) -> Any:
        async def listener(ack: AsyncAck, body: dict[str, Any]) -> None:
            await ack()
            await act(*image_click(body))

        return listener

    for action_id, act in (
        (ACTION_IMAGE_EDIT, image_actions.edit),
        (ACTION_IMAGE_MORE, image_actions.more_like_this),
        (ACTION_IMAGE_UPSCALE, image_actions.upscale),
    ):
        on.action(re.compile(rf"^{action_id}:\d+$"), pressed(act))


async def _checked(
    controls: Controls, ack: AsyncAck, view: dict[str, Any], *, image_pick: bool
) -> str | None:
    """A dialog's text and menus as one request text, acknowledged; None when Slack was
    answered with the error to show under the field instead (the menus are checked against
    what the workspace allows now: one small read of the store before the answer)."""
    model, style = dialog_choices(view)
    try:
        text = controls.check_modal(*dialog_text(view), model, style, image_pick=image_pick)
        await controls.check_choices(model, style)
    except ModalError as exc:
        await ack(response_action="errors", errors={exc.block: exc.message[:ERROR_CHARS]})
        return None
    await ack()
    return text


def _edit_dialog(on: Registrar, controls: Controls) -> None:
    async def shortcut(ack: AsyncAck, shortcut: dict[str, Any]) -> None:
        await ack()
        who, ts, thread, files = shortcut_message(shortcut)
        await controls.open_edit_for_message(who, trigger(shortcut), ts, thread, files)

    async def submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        text = await _checked(controls, ack, view, image_pick=True)
        if text is None:
            return
        user_id, team_id = submitter(body)
        target = edit_target(view)
        if target is None:
            log.warning("edit dialog with unreadable metadata ignored user=%s", user_id)
            return
        await controls.submit_modal(user_id, team_id, target, text, key=submission_key(view))

    on.shortcut(EDIT_SHORTCUT, shortcut)
    on.view(EDIT_MODAL, submitted)


def _new_dialog(on: Registrar, controls: Controls) -> None:
    async def picked(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        action_id, value, trigger_id = menu_pick(body)
        if action_id == HOME_MODEL_ACTION:
            await controls.open_new(trigger_id, model=value or None)
        else:
            await controls.open_new(trigger_id, style=value or None)

    async def submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        text = await _checked(controls, ack, view, image_pick=False)
        if text is None:
            return
        user_id, team_id = submitter(body)
        channel = dialog_channel(view)
        if not channel:
            # Slack requires the field: a submission without it did not come from the dialog.
            log.warning("new image dialog without a channel ignored user=%s", user_id)
            return
        await controls.submit_new(Requester(user_id, channel, team_id), text, submission_key(view))

    on.action(HOME_MODEL_ACTION, picked)
    on.action(HOME_STYLE_ACTION, picked)
    on.view(NEW_MODAL, submitted)

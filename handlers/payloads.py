"""Slack's payloads read into the bot's typed values: the one place handlers look inside what
Slack sends (commands, message events and their files, button presses and menu choices, the
message shortcut, the dialogs: their fields, menus and the metadata they carry, runs of the
Workflow Builder step). bot/ never sees Slack's JSON.

Shapes: Slack's reference for slash commands, the Events API (`message`, `app_mention`,
`function_executed`: bolt-python's fixture in tests/scenario_tests_async/test_function.py),
and interactivity payloads (`block_actions`, `message_action`, `view_submission`); real
examples are in tests/contract/payloads.py.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from bot.requests.controls import Click
from bot.requests.conversation import IncomingMessage
from bot.requests.workflow import StepRun
from bot.slack.files import SharedFile
from bot.slack.notifier import Requester
from bot.slack.views.menus import MENU_INPUT, MODEL_BLOCK, STYLE_BLOCK
from bot.slack.views.modal import (
    CHANNEL_BLOCK,
    EDIT_INPUT,
    EDIT_INSTRUCTION_BLOCK,
    EDIT_OPTIONS_BLOCK,
    EditOfFiles,
    EditOfJob,
    EditTarget,
)

JSON = dict[str, Any]

_ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">"}
_ENTITY = re.compile("|".join(_ENTITIES))
# Edits and new files are what people send; every other subtype (changed, deleted, joins,
# bot messages...) is not for the bot.
HANDLED_SUBTYPES = (None, "file_share", "thread_broadcast")


def unescape(text: str) -> str:
    """Slack escapes only &, < and > in message and command text."""
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(0)], text)


# --- slash commands ------------------------------------------------------------------------


def command_text(command: JSON) -> str:
    return unescape(command.get("text") or "")


def requester(command: JSON) -> Requester:
    return Requester(
        user_id=command["user_id"],
        channel_id=command["channel_id"],
        team_id=command.get("team_id", ""),
        response_url=command.get("response_url"),
    )


# --- messages ------------------------------------------------------------------------------


def shared_files(event: JSON) -> list[SharedFile]:
    found = (SharedFile.from_slack(item) for item in event.get("files") or [])
    return [item for item in found if item is not None]


def incoming(
    event: JSON, bot_user_id: str | None, team_id: str, event_id: str | None = None
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


# --- interactivity -------------------------------------------------------------------------


def click(body: JSON) -> Click:
    """A button press; its value names a job, which the bot checks before believing it."""
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


def image_click(body: JSON) -> tuple[Click, int]:
    """A press on a button under one image: its value is `<job id>:<image number>` (0 when it
    is not), which the bot checks before believing it."""
    pressed = click(body)
    job_id, _, number = pressed.job_id.rpartition(":")
    return replace(pressed, job_id=job_id), int(number) if number.isdigit() else 0


def shortcut_message(shortcut: JSON) -> tuple[Requester, str, str, list[str]]:
    """Who used the shortcut, and the message it was used on: its ts, thread and file ids."""
    message = shortcut.get("message") or {}
    who = Requester(
        user_id=str((shortcut.get("user") or {}).get("id") or ""),
        channel_id=str((shortcut.get("channel") or {}).get("id") or ""),
        team_id=str((shortcut.get("team") or {}).get("id") or ""),
        response_url=shortcut.get("response_url"),
    )
    files = [item.id for item in shared_files(message)]
    ts = str(message.get("ts") or "")
    return who, ts, str(message.get("thread_ts") or ts), files


def trigger(payload: JSON) -> str:
    return str(payload.get("trigger_id") or "")


def dialog_text(view: JSON) -> tuple[str, str]:
    """The Edit dialog's two fields: what should change, and the options."""
    return _field(view, EDIT_INSTRUCTION_BLOCK), _field(view, EDIT_OPTIONS_BLOCK)


def _field(view: JSON, block_id: str) -> str:
    return str(_state(view, block_id, EDIT_INPUT).get("value") or "")


def _state(view: JSON, block_id: str, action_id: str) -> JSON:
    values = (view.get("state") or {}).get("values") or {}
    found = (values.get(block_id) or {}).get(action_id)
    return found if isinstance(found, dict) else {}


def dialog_choices(view: JSON) -> tuple[str | None, str | None]:
    """The model and style a dialog's menus chose (None where nothing was chosen); a
    static_select's state is its `selected_option`."""
    chosen = []
    for block_id in (MODEL_BLOCK, STYLE_BLOCK):
        selected = _state(view, block_id, MENU_INPUT).get("selected_option") or {}
        chosen.append(str(selected.get("value") or "") or None)
    return chosen[0], chosen[1]


def dialog_channel(view: JSON) -> str:
    """The conversation a New image dialog posts in (a conversations_select's state)."""
    return str(_state(view, CHANNEL_BLOCK, EDIT_INPUT).get("selected_conversation") or "")


def menu_pick(body: JSON) -> tuple[str, str, str]:
    """A choice in a select menu outside a dialog (App Home): its action id, the value
    picked, and the trigger to open a dialog with."""
    action = (body.get("actions") or [{}])[0]
    selected = action.get("selected_option") or {}
    return str(action.get("action_id") or ""), str(selected.get("value") or ""), trigger(body)


def submitter(body: JSON) -> tuple[str, str]:
    """Who submitted a dialog: user and team ids."""
    user = body.get("user") or {}
    return str(user.get("id") or ""), str(user.get("team_id") or "")


def submission_key(view: JSON) -> str:
    """One submission of a dialog (Slack sends the view's id and a hash of its state)."""
    return f"view:{view.get('id')}:{view.get('hash')}"


def edit_target(view: JSON) -> EditTarget | None:
    """What a submitted Edit dialog edits (bot.slack.views.modal wrote it into the view's
    private_metadata), or None when the metadata is not something the bot wrote."""
    try:
        data = json.loads(str(view.get("private_metadata") or "") or "{}")
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if "job" in data:
        image = data.get("image")
        return EditOfJob(
            str(data["job"]),
            by_shortcut=data.get("by") == "shortcut",
            image_index=image if isinstance(image, int) and image > 0 else None,
        )
    channel, thread, listed = data.get("channel"), data.get("thread"), data.get("files")
    if isinstance(channel, str) and isinstance(thread, str) and isinstance(listed, list):
        return EditOfFiles(channel, thread, tuple(str(file_id) for file_id in listed))
    return None


# --- Workflow Builder ----------------------------------------------------------------------


def step_run(event: JSON, team_id: str) -> StepRun:
    """A run of the "Generate an image" step: the `function_executed` event's inputs as the
    manifest declares them (a `user_context` is `{id, secret}`: Slack's docs, user_context type)."""
    inputs = event.get("inputs") or {}
    user = inputs.get("user")
    return StepRun(
        execution_id=str(event.get("function_execution_id") or ""),
        user_id=str(user.get("id") or "") if isinstance(user, dict) else "",
        channel_id=str(inputs.get("channel") or ""),
        team_id=team_id,
        prompt=str(inputs.get("prompt") or ""),
        choice=str(inputs.get("model") or ""),
    )

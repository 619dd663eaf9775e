"""The Edit dialog (what should change in an image, with optional `/image` options and the model
and style menus) and the New image dialog App Home opens. The Edit dialog carries what it edits
(a job's result, or the files of a message) in its private_metadata, which the handler reads back
when it is submitted (handlers/payloads.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.slack.blockkit import Block, conversation_select, input_block, modal, text_input
from bot.slack.views.menus import Menu, choice_blocks

EDIT_MODAL = "imagebot_edit_modal"
NEW_MODAL = "imagebot_new_modal"
EDIT_INSTRUCTION_BLOCK = "instruction"
EDIT_OPTIONS_BLOCK = "options"
CHANNEL_BLOCK = "channel"
EDIT_INPUT = "value"
# The dialog names at most this many files of a message (private_metadata holds 3,000 characters).
MOST_FILES = 8
OPTIONS_HINT = "Options such as --quality high --size square (see /image help)"


@dataclass(frozen=True)
class EditOfJob:
    """The result of a job: from its card's Edit button (only its requester may submit), or
    from the "Edit image" shortcut on its card (`by_shortcut`: anyone may), or from the Edit
    button under one of its images (`image_index`: anyone may, on that image)."""

    job_id: str
    by_shortcut: bool = False
    image_index: int | None = None


@dataclass(frozen=True)
class EditOfFiles:
    """The images of a message the "Edit image" shortcut was used on."""

    channel_id: str
    thread_ts: str
    file_ids: tuple[str, ...]


EditTarget = EditOfJob | EditOfFiles


def edit_metadata(target: EditTarget) -> str:
    """What the dialog carries, in the shape dialogs have always carried (so one opened before
    an upgrade is still read)."""
    if isinstance(target, EditOfJob):
        data: dict[str, object] = {"job": target.job_id}
        if target.by_shortcut:
            data["by"] = "shortcut"
        if target.image_index is not None:
            data["image"] = target.image_index
    else:
        files = list(target.file_ids[:MOST_FILES])
        data = {"channel": target.channel_id, "thread": target.thread_ts, "files": files}
    return json.dumps(data)


def _options_block(hint: str) -> Block:
    return input_block(
        EDIT_OPTIONS_BLOCK, "Options", text_input(EDIT_INPUT), optional=True, hint=hint
    )


def edit_modal(target: EditTarget, menu: Menu, *, image_count: int = 1) -> Block:
    hint = OPTIONS_HINT
    picked = target.image_index if isinstance(target, EditOfJob) else None
    if picked is not None and image_count > 1:
        hint += f"; this edits image {picked} of {image_count}"
    elif image_count > 1:
        hint += f"; #2 picks image 2 of {image_count}"
    instruction = text_input(
        EDIT_INPUT, multiline=True, min_length=2, max_length=3000, placeholder="make the sky navy"
    )
    blocks = [
        input_block(EDIT_INSTRUCTION_BLOCK, "What should change?", instruction),
        *choice_blocks(menu, "edit"),
        _options_block(hint),
    ]
    return modal(
        EDIT_MODAL, "Edit image", blocks, submit="Edit", close="Cancel",
        private_metadata=edit_metadata(target),
    )  # fmt: skip


def new_image_modal(menu: Menu, *, model: str | None = None, style: str | None = None) -> Block:
    """A new image from App Home: the prompt, where to post it, and the menus preset."""
    prompt = text_input(
        EDIT_INPUT, multiline=True, min_length=2, max_length=3000,
        placeholder="a poster for Friday's launch",
    )  # fmt: skip
    where = conversation_select(EDIT_INPUT, placeholder="Pick a channel")
    blocks = [
        input_block(EDIT_INSTRUCTION_BLOCK, "What should the image show?", prompt),
        input_block(CHANNEL_BLOCK, "Post it in", where),
        *choice_blocks(menu, "generate", model, style),
        _options_block(OPTIONS_HINT),
    ]
    return modal(NEW_MODAL, "New image", blocks, submit="Make it", close="Cancel")

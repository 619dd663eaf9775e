"""The Edit dialog: what should change in an image, and optional `/image` options. It carries
what it edits (a job's result, or the files of a message) in its private_metadata, which the
handler reads back when it is submitted (handlers/payloads.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.slack.blockkit import Block, input_block, modal, text_input

EDIT_MODAL = "imagebot_edit_modal"
EDIT_INSTRUCTION_BLOCK = "instruction"
EDIT_OPTIONS_BLOCK = "options"
EDIT_INPUT = "value"
# The dialog names at most this many files of a message (private_metadata holds 3,000 characters).
MOST_FILES = 8


@dataclass(frozen=True)
class EditOfJob:
    """The result of a job: from its card's Edit button (only its requester may submit), or
    from the "Edit image" shortcut on its card (`by_shortcut`: anyone may)."""

    job_id: str
    by_shortcut: bool = False


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
    else:
        files = list(target.file_ids[:MOST_FILES])
        data = {"channel": target.channel_id, "thread": target.thread_ts, "files": files}
    return json.dumps(data)


def edit_modal(target: EditTarget, *, image_count: int = 1) -> Block:
    hint = (
        "Options such as --quality high --size square, a model (--model seedream) or a style"
        " (--style brand): /image models and /image styles list them"
    )
    if image_count > 1:
        hint += f"; #2 picks image 2 of {image_count}"
    instruction = text_input(
        EDIT_INPUT, multiline=True, min_length=2, max_length=3000, placeholder="make the sky navy"
    )
    blocks = [
        input_block(EDIT_INSTRUCTION_BLOCK, "What should change?", instruction),
        input_block(
            EDIT_OPTIONS_BLOCK, "Options", text_input(EDIT_INPUT), optional=True, hint=hint
        ),
    ]
    return modal(
        EDIT_MODAL, "Edit image", blocks, submit="Edit", close="Cancel",
        private_metadata=edit_metadata(target),
    )  # fmt: skip

"""Block Kit builders: pure functions from jobs and statuses to Slack message payloads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.domain.demo_pricing import DEMO_PRICING, is_demo_priced
from bot.domain.usd import format_usd
from bot.slack.blockkit import (
    SECTION_TEXT,
    button,
    clip,
    clip_plain,
    context,
    escape,
    fallback,
    message_blocks,
    plain,
    quote,
    section,
)
from bot.slack.blockkit import Block as Block
from bot.store.records import Job

ACTION_CANCEL = "imagebot_cancel"
ACTION_REGENERATE = "imagebot_regenerate"
ACTION_HIGH_QUALITY = "imagebot_high_quality"
ACTION_EDIT = "imagebot_edit"
JOB_METADATA_TYPE = "imagebot_job"
POST_METADATA_TYPE = "imagebot_post"


@dataclass(frozen=True)
class Waiting:
    """Held back by the bot's own limits."""

    ahead: int


@dataclass(frozen=True)
class Starting:
    """Admitted; the card is new and the job is on its way to the provider."""


@dataclass(frozen=True)
class InQueue:
    """Waiting in the provider's own queue (fal's position counts from 0)."""

    position: int
    at: str = "fal"


@dataclass(frozen=True)
class Generating:
    seconds: int


@dataclass(frozen=True)
class Uploading:
    pass


@dataclass(frozen=True)
class Done:
    seconds: int
    cost_micros: int
    estimated: bool


@dataclass(frozen=True)
class Failed:
    reason: str


@dataclass(frozen=True)
class Cancelling:
    """fal was asked to cancel; only its next status says whether it stopped before running."""

    by: str


@dataclass(frozen=True)
class Cancelled:
    by: str
    note: str = "Nothing was charged."


CardStatus = (
    Starting | Waiting | InQueue | Generating | Uploading | Done | Failed | Cancelling | Cancelled
)


def status_line(status: CardStatus) -> str:
    match status:
        case Waiting(ahead=0):
            return ":hourglass_flowing_sand: Waiting for a free slot: next in line"
        case Waiting(ahead=ahead):
            jobs = "request" if ahead == 1 else "requests"
            return f":hourglass_flowing_sand: Waiting for a free slot: {ahead} {jobs} ahead"
        case Starting():
            return ":hourglass_flowing_sand: Starting…"
        case InQueue(position=position, at=at):
            return f":hourglass_flowing_sand: Queued at {at} (position {position + 1})"
        case Generating(seconds=seconds):
            return f":art: Generating… {seconds} s"
        case Uploading():
            return ":outbox_tray: Uploading…"
        case Done(seconds=seconds, cost_micros=cost, estimated=estimated):
            note = " (estimate: fal reported no bill)" if estimated else ""
            return f":white_check_mark: Done in {seconds} s · {format_usd(cost)}{note}"
        case Failed(reason=reason):
            # fal's words may be in the reason: never markup.
            return f":warning: {escape(reason)}"
        case Cancelling(by=by):
            return f":hourglass_flowing_sand: Cancelling for <@{by}>: waiting for fal to confirm…"
        case Cancelled(by=by, note=note):
            return f":no_entry_sign: Cancelled by <@{by}>. {note}"
    raise AssertionError(status)


def request_summary(job: Job) -> str:
    request = job.request
    size = str(request.size) if request.size is not None else "default size"
    images = "1 image" if request.n == 1 else f"{request.n} images"
    parts = [request.quality, size, images, request.output_format]
    if request.background != "auto":
        parts.append(f"{request.background} background")
    parts.append(f"est. {format_usd(job.estimate_micros)}")
    return " · ".join(parts)


def card(job: Job, status: CardStatus, *, short: bool = False) -> tuple[str, list[Block]]:
    """The request card: who asked, what, the settings, the status, and what you can do next.
    The prompt is escaped and quoted before the section is clipped to Slack's limit, so no
    prompt can make Slack refuse the card. `short` leaves out all but who asked and the status."""
    if job.kind == "edit":
        picked = f" of image {job.request.image_index}" if job.request.image_index else ""
        headline = f"<@{job.user_id}> asked for an edit{picked}"
    else:
        headline = f"<@{job.user_id}> asked for an image"
    status_text = status_line(status)
    if isinstance(status, Done) and is_demo_priced(job.endpoint_id):
        status_text += f" ({DEMO_PRICING})"
    status_block = section(status_text)
    if short:
        blocks = [section(f"*{headline}*"), status_block]
    else:
        notes = [escape(request_summary(job))]
        if job.request.size_note:
            notes.append(escape(job.request.size_note))
        blocks = [
            # Escaping and quoting only lengthen text: what is past the limit never shows.
            section(f"*{headline}*\n{quote(escape(job.prompt[:SECTION_TEXT]))}"),
            context(*notes),
            status_block,
        ]
    actions = _actions(job, status)
    if actions:
        blocks.append({"type": "actions", "block_id": f"job:{job.id}", "elements": actions})
    prompt = clip(escape(" ".join(job.prompt[:400].split())), 200)
    return fallback(f"{headline}: {prompt} ({status_line(status)})"), message_blocks(blocks)


def _actions(job: Job, status: CardStatus) -> list[Block]:
    if isinstance(status, Starting | Waiting | InQueue):
        # Only before fal starts: a running job is billed whether or not we wait for it.
        return [button("Cancel", ACTION_CANCEL, job.id, "danger")]
    if isinstance(status, Done):
        buttons = [button("Regenerate", ACTION_REGENERATE, job.id)]
        if job.request.quality != "high":
            buttons.append(button("High quality", ACTION_HIGH_QUALITY, job.id))
        buttons.append(button("Edit", ACTION_EDIT, job.id, "primary"))
        return buttons
    if isinstance(status, Failed) and job.kind == "generate":
        return [button("Try again", ACTION_REGENERATE, job.id)]
    return []


def job_metadata(job_id: str, part: str) -> dict[str, Any]:
    """Tags a message with its job, so a restarted bot can find what it already posted."""
    return {"event_type": JOB_METADATA_TYPE, "event_payload": {"job_id": job_id, "part": part}}


def post_metadata(nonce: str) -> dict[str, Any]:
    """Tags any other message, so the bot can tell whether a post Slack left unanswered landed."""
    return {"event_type": POST_METADATA_TYPE, "event_payload": {"post": nonce}}


def image_file_name(job_id: str, index: int, output_format: str) -> str:
    extension = "jpg" if output_format == "jpeg" else output_format
    return f"imagebot-{job_id}-{index}.{extension}"


def image_title(job: Job, index: int) -> str:
    prefix = f"{index}/{len(job.images)}: " if len(job.images) > 1 else ""
    return clip_plain(prefix + " ".join(job.prompt.split()), 250) or f"image {index}"


def image_alt_text(job: Job) -> str:
    # files.getUploadURLExternal takes up to 1,000 characters of alt text.
    return clip_plain(" ".join(job.prompt.split()), 1000) or "generated image"


EDIT_MODAL = "imagebot_edit_modal"
EDIT_INSTRUCTION_BLOCK = "instruction"
EDIT_OPTIONS_BLOCK = "options"
# Views reference (docs.slack.dev/reference/views): title, submit and close 24 characters;
# input block label and hint 2,000; a plain_text_input placeholder 150.
MODAL_TITLE = 24
INPUT_LABEL = 2000
PLACEHOLDER = 150


def edit_modal(private_metadata: str, *, image_count: int = 1) -> dict[str, Any]:
    """The Edit dialog: what to change, and optional /image options."""
    hint = "Options such as --quality high --size square"
    if image_count > 1:
        hint += f"; #2 picks image 2 of {image_count}"
    return {
        "type": "modal",
        "callback_id": EDIT_MODAL,
        "private_metadata": private_metadata,
        "title": plain("Edit image", MODAL_TITLE),
        "submit": plain("Edit", MODAL_TITLE),
        "close": plain("Cancel", MODAL_TITLE),
        "blocks": [
            {
                "type": "input",
                "block_id": EDIT_INSTRUCTION_BLOCK,
                "label": plain("What should change?", INPUT_LABEL),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "min_length": 2,
                    "max_length": 3000,
                    "placeholder": plain("make the sky navy", PLACEHOLDER),
                },
            },
            {
                "type": "input",
                "block_id": EDIT_OPTIONS_BLOCK,
                "optional": True,
                "label": plain("Options", INPUT_LABEL),
                "hint": plain(hint, INPUT_LABEL),
                "element": {"type": "plain_text_input", "action_id": "value"},
            },
        ],
    }

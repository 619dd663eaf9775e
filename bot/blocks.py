"""Block Kit builders: pure functions from jobs and statuses to Slack message payloads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.pricing import format_usd
from bot.store.records import Job

Block = dict[str, Any]

ACTION_CANCEL = "imagebot_cancel"
ACTION_REGENERATE = "imagebot_regenerate"
ACTION_HIGH_QUALITY = "imagebot_high_quality"
ACTION_EDIT = "imagebot_edit"
JOB_METADATA_TYPE = "imagebot_job"
SECTION_LIMIT = 3000


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
            return f":warning: {reason}"
        case Cancelling(by=by):
            return f":hourglass_flowing_sand: Cancelling for <@{by}>: waiting for fal to confirm…"
        case Cancelled(by=by, note=note):
            return f":no_entry_sign: Cancelled by <@{by}>. {note}"
    raise AssertionError(status)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quote(text: str) -> str:
    return "\n".join(f">{line}" if line else ">" for line in text.splitlines() or [""])


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def request_summary(job: Job) -> str:
    request = job.request
    size = str(request.size) if request.size is not None else "default size"
    images = "1 image" if request.n == 1 else f"{request.n} images"
    parts = [request.quality, size, images, request.output_format]
    if request.background != "auto":
        parts.append(f"{request.background} background")
    parts.append(f"est. {format_usd(job.estimate_micros)}")
    return " · ".join(parts)


def card(job: Job, status: CardStatus) -> tuple[str, list[Block]]:
    """The request card: who asked, what, the settings, the status, and what you can do next."""
    if job.kind == "edit":
        picked = f" of image {job.request.image_index}" if job.request.image_index else ""
        headline = f"<@{job.user_id}> asked for an edit{picked}"
    else:
        headline = f"<@{job.user_id}> asked for an image"
    prompt = _quote(escape(clip(job.prompt, SECTION_LIMIT - len(headline) - 200)))
    context = [{"type": "mrkdwn", "text": escape(request_summary(job))}]
    if job.request.size_note:
        context.append({"type": "mrkdwn", "text": escape(job.request.size_note)})
    blocks: list[Block] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*\n{prompt}"}},
        {"type": "context", "elements": context},
        {"type": "section", "text": {"type": "mrkdwn", "text": status_line(status)}},
    ]
    actions = _actions(job, status)
    if actions:
        blocks.append({"type": "actions", "block_id": f"job:{job.id}", "elements": actions})
    fallback = f"{headline}: {clip(job.prompt, 200)} ({status_line(status)})"
    return fallback, blocks


def _button(text: str, action_id: str, job_id: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": job_id,
    }
    if style:
        button["style"] = style
    return button


def _actions(job: Job, status: CardStatus) -> list[Block]:
    if isinstance(status, Starting | Waiting | InQueue):
        # Only before fal starts: a running job is billed whether or not we wait for it.
        return [_button("Cancel", ACTION_CANCEL, job.id, "danger")]
    if isinstance(status, Done):
        buttons = [_button("Regenerate", ACTION_REGENERATE, job.id)]
        if job.request.quality != "high":
            buttons.append(_button("High quality", ACTION_HIGH_QUALITY, job.id))
        buttons.append(_button("Edit", ACTION_EDIT, job.id, "primary"))
        return buttons
    if isinstance(status, Failed) and job.kind == "generate":
        return [_button("Try again", ACTION_REGENERATE, job.id)]
    return []


def job_metadata(job_id: str, part: str) -> dict[str, Any]:
    """Tags a message with its job, so a restarted bot can find what it already posted."""
    return {"event_type": JOB_METADATA_TYPE, "event_payload": {"job_id": job_id, "part": part}}


def image_file_name(job_id: str, index: int, output_format: str) -> str:
    extension = "jpg" if output_format == "jpeg" else output_format
    return f"imagebot-{job_id}-{index}.{extension}"


def image_title(job: Job, index: int) -> str:
    prefix = f"{index}/{len(job.images)}: " if len(job.images) > 1 else ""
    return clip(prefix + job.prompt.replace("\n", " "), 250) or f"image {index}"


def text_blocks(text: str) -> list[Block]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_LIMIT)}}]


EDIT_MODAL = "imagebot_edit_modal"
EDIT_INSTRUCTION_BLOCK = "instruction"
EDIT_OPTIONS_BLOCK = "options"


def edit_modal(private_metadata: str, *, image_count: int = 1) -> dict[str, Any]:
    """The Edit dialog: what to change, and optional /image options."""
    hint = "Options such as --quality high --size square"
    if image_count > 1:
        hint += f"; #2 picks image 2 of {image_count}"
    return {
        "type": "modal",
        "callback_id": EDIT_MODAL,
        "private_metadata": private_metadata,
        "title": {"type": "plain_text", "text": "Edit image"},
        "submit": {"type": "plain_text", "text": "Edit"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": EDIT_INSTRUCTION_BLOCK,
                "label": {"type": "plain_text", "text": "What should change?"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "min_length": 2,
                    "max_length": 3000,
                    "placeholder": {"type": "plain_text", "text": "make the sky navy"},
                },
            },
            {
                "type": "input",
                "block_id": EDIT_OPTIONS_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "Options"},
                "hint": {"type": "plain_text", "text": hint},
                "element": {"type": "plain_text_input", "action_id": "value"},
            },
        ],
    }

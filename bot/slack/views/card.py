"""The request card: who asked, what, the settings, how the job stands, and what can be done
next. The runner moves a card through the states below; each is drawn from the shared builders
(bot.slack.blockkit), so no prompt or reason can make Slack refuse it."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.demo_pricing import DEMO_PRICING, is_demo_priced
from bot.domain.usd import format_usd
from bot.slack.blockkit import (
    SECTION_TEXT,
    actions,
    button,
    clip,
    context,
    escape,
    fallback,
    message_blocks,
    quote,
    section,
)
from bot.slack.blockkit import Block as Block
from bot.store.records import Job

ACTION_CANCEL = "imagebot_cancel"
ACTION_REGENERATE = "imagebot_regenerate"
ACTION_HIGH_QUALITY = "imagebot_high_quality"
ACTION_EDIT = "imagebot_edit"
ACTION_FINAL = "imagebot_final"


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


@dataclass(frozen=True)
class ModelNote:
    """What the card says of the job's model: its name, the quality its High quality button
    asks for (None: the model has no qualities, so no button), and for a draft the Final
    button's offer ("GPT Image 2 · high · ~$0.22")."""

    label: str = ""
    final_quality: str | None = "high"
    final_offer: str | None = None


def request_summary(job: Job, model: ModelNote | None = None) -> str:
    request = job.request
    if request.size is not None:
        size = str(request.size)
    else:
        size = " ".join(filter(None, [request.aspect_ratio, request.resolution])) or "default size"
    images = "1 image" if request.n == 1 else f"{request.n} images"
    parts = [model.label if model and model.label else request.model]
    if request.style:
        parts.append(f"style {request.style}")
    parts += [request.quality or "", size, images, request.output_format or ""]
    parts = [part for part in parts if part]
    if request.background != "auto":
        parts.append(f"{request.background} background")
    parts.append(f"est. {format_usd(job.estimate_micros)}")
    return " · ".join(parts)


def card(
    job: Job, status: CardStatus, *, short: bool = False, model: ModelNote | None = None
) -> tuple[str, list[Block]]:
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
        notes = [escape(request_summary(job, model))]
        if job.request.size_note:
            notes.append(escape(job.request.size_note))
        blocks = [
            # Escaping and quoting only lengthen text: what is past the limit never shows.
            section(f"*{headline}*\n{quote(escape(job.prompt[:SECTION_TEXT]))}"),
            context(*notes),
            status_block,
        ]
    buttons = _buttons(job, status, model or ModelNote())
    if buttons:
        blocks.append(actions(f"job:{job.id}", buttons))
    prompt = clip(escape(" ".join(job.prompt[:400].split())), 200)
    return fallback(f"{headline}: {prompt} ({status_line(status)})"), message_blocks(blocks)


def _buttons(job: Job, status: CardStatus, model: ModelNote) -> list[Block]:
    if isinstance(status, Starting | Waiting | InQueue):
        # Only before fal starts: a running job is billed whether or not we wait for it.
        return [button("Cancel", ACTION_CANCEL, job.id, "danger")]
    if isinstance(status, Done):
        buttons = [button("Regenerate", ACTION_REGENERATE, job.id)]
        final = model.final_quality
        if final is not None and job.request.quality not in (None, final):
            buttons.append(button("High quality", ACTION_HIGH_QUALITY, job.id))
        if model.final_offer is not None:
            buttons.append(button(f"Final: {model.final_offer}", ACTION_FINAL, job.id))
        buttons.append(button("Edit", ACTION_EDIT, job.id, "primary"))
        return buttons
    if isinstance(status, Failed) and job.kind == "generate":
        return [button("Try again", ACTION_REGENERATE, job.id)]
    return []

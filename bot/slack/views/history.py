"""A person's look back: `/image history` (their latest requests, each with its thread link,
model and cost) and App Home's thumbnails of their latest results (files already in Slack)."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from bot.slack.blockkit import Block, clip, context, escape, slack_image, text_blocks
from bot.slack.views.usage import cost_text
from bot.store import Job

PROMPT_CHARS = 80


def job_cost(job: Job) -> str:
    """What the request costs its requester, as the ledger has it."""
    return cost_text(job.charge_status, job.state, job.amount_micros, job.charge_estimated)


def short_prompt(job: Job, chars: int = PROMPT_CHARS) -> str:
    return clip(escape(" ".join(job.prompt.split())), chars) or "(prompt removed)"


def history_text(
    jobs: list[Job],
    words: list[str],
    zone: ZoneInfo,
    label: Callable[[str], str],
    link: Callable[[Job], str | None],
) -> tuple[str, list[Block]]:
    """The reply to `/image history [words]`: newest first, one line each."""
    asked = f" with “{escape(' '.join(words))}”" if words else ""
    if not jobs:
        text = f"You have no requests{asked} yet."
        return text, text_blocks(text)
    lines = [f"*Your last {len(jobs)} requests{asked}*, newest first:"]
    for job in jobs:
        when = job.created_at.astimezone(zone)
        url = link(job)
        where = f" · <{url}|thread>" if url else ""
        lines.append(
            f"• {when:%b} {when.day} {when:%H:%M} · {short_prompt(job)} ·"
            f" {escape(label(job.request.model))} · {job_cost(job)}{where}"
        )
    text = "\n".join(lines)
    return text, text_blocks(text)


def thumbnail_blocks(jobs: list[Job], link: Callable[[Job], str | None]) -> list[Block]:
    """App Home's "Your latest images": each result's first image (a file in Slack the person
    can see: their own request's thread) and a link to its thread."""
    if not jobs:
        return []
    blocks = [*text_blocks("*Your latest images*")]
    for job in jobs:
        blocks.append(slack_image(job.slack_file_ids[0], job.prompt or "an image you made"))
        url = link(job)
        blocks.append(context(f"{short_prompt(job, 150)}" + (f" · <{url}|thread>" if url else "")))
    return blocks

"""Details of a request, for the person who asked only: the model and endpoint, the prompt,
every input sent to fal as it was sent, fal's request id, the time queued and generating, and
what it cost."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.slack.blockkit import Block, clip, escape, quote, text_blocks
from bot.slack.views.history import job_cost
from bot.store import Job

NOT_YOURS = "Only the person who asked can see the details of a request."
# A value longer than this is cut in the message (the full inputs stay in the store).
VALUE_CHARS = 600
# The prompt is shown up to this much, so the lines after it always fit in the message.
PROMPT_CHARS = 1500


def _seconds(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "—"
    return f"{max(0.0, (end - start).total_seconds()):.1f} s"


def _timing(job: Job) -> str:
    if job.started_at is None and job.generated_at is not None:
        at_fal = _seconds(job.submitted_at, job.generated_at)
        return f"*At fal:* {at_fal} (fal did not say when it started generating)"
    queued, generating = (
        _seconds(job.submitted_at, job.started_at),
        _seconds(job.started_at, job.generated_at),
    )
    return f"*Queued:* {queued} · *Generating:* {generating}"


def _value(value: Any) -> str:
    shown = json.dumps(value, ensure_ascii=False)
    if len(shown) > VALUE_CHARS:
        shown = shown[: VALUE_CHARS - 1] + "…"
    return escape(shown.replace("`", "'"))


def details_text(
    job: Job, model_label: str, sent: dict[str, Any] | None
) -> tuple[str, list[Block]]:
    lines = [
        f"*Details of your request* (`{job.id}`)",
        f"*Model:* {escape(model_label)} (`{escape(job.request.model)}`)"
        f" · endpoint `{escape(job.endpoint_id)}`",
        "*Prompt:*",
        clip(quote(escape(job.prompt or "(removed)")), PROMPT_CHARS),
        "*Sent to fal:*",
    ]
    if sent is None and job.submit_sent_at is None and job.fal_request_id is None:
        lines.append("_Nothing was sent to fal for this request._")
    elif sent is None:
        lines.append(
            "_Not kept: the request is older than imagebot's record of inputs, or than the"
            " prompt retention period._"
        )
    else:
        lines += [f"• `{escape(key)}`: `{_value(value)}`" for key, value in sent.items()]
    lines += [
        f"*fal request id:* `{escape(job.fal_request_id or '—')}`",
        _timing(job),
        f"*Cost:* {job_cost(job)}"
        + (f" · {job.billed_units} billed units" if job.billed_units is not None else ""),
    ]
    text = "\n".join(lines)
    return text, text_blocks(text)

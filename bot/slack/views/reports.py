"""A spend report as a Slack message: the totals, who spent most, and the grouping's top lines
(the CSV and the terminal table are bot.money.reports)."""

from __future__ import annotations

from datetime import date

from bot.domain.demo_pricing import DEMO_NOTE
from bot.domain.usd import format_usd
from bot.slack.blockkit import Block, context, escape, fields, header, message_blocks, text_blocks
from bot.store.reconciliation import UNATTRIBUTED
from bot.store.report import TOP_GROUPS, TOP_SPENDERS, Report, Total

_GROUP_TITLES = {
    "day": "Busiest days",
    "channel": "Top channels",
    "model": "By model",
    "style": "By style",
    "quality": "By quality",
}


def report_blocks(report: Report, *, demo: bool = False) -> list[Block]:
    """The report as a Slack message: totals, who spent most, and the grouping's top lines
    (`demo`: the mock provider billed some of it, and the report says so)."""
    blocks: list[Block] = [header(f"Image spend: {report.period.label}")]
    if demo:
        blocks.append(context(DEMO_NOTE))
    blocks.append(
        fields(
            [
                ("Total spend", format_usd(report.spend_micros)),
                ("Jobs", f"{report.jobs:,}"),
                ("Images", f"{report.images:,}"),
                ("Billed by fal", format_usd(report.billed_micros)),
                ("Estimated", format_usd(report.estimated_micros)),
            ]
        )
    )
    notes = []
    if report.estimated_micros:
        notes.append("Estimated: fal reported no billable units, so the estimate was charged.")
    if report.held_micros:
        notes.append(
            f":hourglass_flowing_sand: {format_usd(report.held_micros)} is held by running"
            " jobs and not in the total yet."
        )
    if notes:
        blocks.append(context(" ".join(notes)))
    if not report.rows:
        blocks += text_blocks("No settled spend in this period.")
    else:
        blocks += text_blocks(_spenders_text(report))
        if report.by != "user":
            blocks += text_blocks(_groups_text(report))
    blocks.append(context("Add `--csv` to get every row as a CSV file in your DM."))
    return message_blocks(blocks)


def _spenders_text(report: Report) -> str:
    everyone = report.top_spenders(limit=None)
    lines = ["*Top spenders*"]
    lines += [
        f"{rank}. {_person(total.key)} {_summary(total)}"
        for rank, total in enumerate(everyone[:TOP_SPENDERS], start=1)
    ]
    lines += _more(len(everyone) - TOP_SPENDERS, "person", "people")
    return "\n".join(lines)


def _groups_text(report: Report) -> str:
    everyone = report.top_groups(limit=None)
    lines = [f"*{_GROUP_TITLES[report.by]}*"]
    lines += [f"{_group_label(report.by, t.key)} {_summary(t)}" for t in everyone[:TOP_GROUPS]]
    noun = {"day": ("day", "days"), "channel": ("channel", "channels")}.get(
        report.by, ("other", "others")
    )
    lines += _more(len(everyone) - TOP_GROUPS, *noun)
    return "\n".join(lines)


def _person(user_id: str) -> str:
    """A person's mention; fal requests no job claims (booked by reconciliation) as a label."""
    return "_unattributed (fal billed, no job)_" if user_id == UNATTRIBUTED else f"<@{user_id}>"


def _group_label(by: str, key: str) -> str:
    if by == "channel":
        return f"<#{key}>"
    if by == "day":
        return f"`{date.fromisoformat(key):%a %Y-%m-%d}`"
    if by == "style" and not key:
        return "no style"
    return f"`{escape(key)}`"


def _summary(total: Total) -> str:
    jobs = "1 job" if total.jobs == 1 else f"{total.jobs:,} jobs"
    images = "1 image" if total.images == 1 else f"{total.images:,} images"
    return f"*{format_usd(total.spend_micros)}* · {jobs} · {images}"


def _more(count: int, one: str, many: str) -> list[str]:
    if count <= 0:
        return []
    return [f"…and {count:,} more {one if count == 1 else many}"]

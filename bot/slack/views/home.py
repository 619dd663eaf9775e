"""The App Home tab: a person's own usage; for admins also the team's month and a chart of its
spend per day (a file shared with the admin: see bot.money.home)."""

from __future__ import annotations

from bot.domain.usd import format_usd
from bot.slack.blockkit import Block, divider, home, slack_image, text_blocks
from bot.slack.views.usage import budget_bar
from bot.store.report import Report

CHART_ALT = "Team image spend per day this month"


def team_blocks(report: Report, team_budget: int | None, month_label: str) -> list[Block]:
    """The team's month for admins: spend against the team budget and the top spenders."""
    used = report.spend_micros + report.held_micros
    lines = [f"*Team spend in {month_label}*", f"{format_usd(report.spend_micros)} spent"]
    if team_budget:
        lines[1] += f" of {format_usd(team_budget)}"
        lines.append(budget_bar(used, team_budget))
    lines.append(f"{report.images} images from {report.jobs} requests")
    top = report.top_spenders(5)
    if top:
        lines.append("\n*Top spenders*")
        lines += [f"• <@{t.key}> {format_usd(t.spend_micros)} ({t.jobs} requests)" for t in top]
    return text_blocks("\n".join(lines))


MODELS_NOTE = (
    "Models and styles: `/image models` and `/image styles` list what you can use with"
    " `--model` and `--style`; `--draft` tries a prompt cheaply first."
)


def home_view(mine: list[Block], team: list[Block], chart_file_id: str | None = None) -> Block:
    blocks = [*mine, *text_blocks(MODELS_NOTE)]
    if team:
        blocks += [divider(), *team]
    if chart_file_id is not None:
        blocks.append(slack_image(chart_file_id, CHART_ALT))
    return home(blocks)

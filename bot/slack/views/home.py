"""The App Home tab: a person's own usage, the models (the default, and menus that open the New
image dialog preset); for admins also the team's month and a chart of its spend per day (a file
shared with the admin: see bot.money.home)."""

from __future__ import annotations

from bot.domain.usd import format_usd
from bot.slack.blockkit import Block, actions, divider, home, section, slack_image, text_blocks
from bot.slack.views.menus import Menu, model_select, style_select
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


HOME_MODEL_ACTION = "imagebot_home_model"
HOME_STYLE_ACTION = "imagebot_home_style"
MODELS_NOTE = (
    "Pick a model or a style to make a new image with it. `/image models` and `/image styles`"
    " say what each one does; `--draft` tries a prompt cheaply first."
)


def models_blocks(menu: Menu) -> list[Block]:
    """The Models section: the workspace's default and the menus that open the New image
    dialog with a model or a style chosen."""
    default = menu.default
    named = f"*Models* · the default is {default.label} (`{default.name}`)"
    blocks = [section(f"{named}\n{MODELS_NOTE}")]
    menus = [
        model_select(HOME_MODEL_ACTION, menu, "generate"),
        style_select(HOME_STYLE_ACTION, menu),
    ]
    chosen = [element for element in menus if element is not None]
    if chosen:
        blocks.append(actions("home_models", chosen))
    return blocks


def home_view(
    mine: list[Block],
    team: list[Block],
    models: list[Block],
    chart_file_id: str | None = None,
    *,
    thumbs: list[Block] | None = None,
) -> Block:
    blocks = [*mine, divider(), *models]
    if thumbs:
        blocks += [divider(), *thumbs]
    if team:
        blocks += [divider(), *team]
    if chart_file_id is not None:
        blocks.append(slack_image(chart_file_id, CHART_ALT))
    return home(blocks)

"""A person's own spend this month, as `/image-usage` and the App Home show it: spent against the
budget (with a bar), images made, what is still held, and the last few requests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from zoneinfo import ZoneInfo

from bot.domain.demo_pricing import DEMO_PRICING
from bot.domain.periods import Period
from bot.domain.usd import format_usd
from bot.slack.blockkit import Block, clip, escape, text_blocks
from bot.store.ledger import RecentCharge, Usage

_BAR_WIDTH = 20


def usage_message(
    *,
    month: Period,
    usage: Usage,
    budget: int | None,
    resets: date,
    recent: Sequence[RecentCharge],
    zone: ZoneInfo,
    demo: bool = False,
) -> tuple[str, list[Block]]:
    """The text and blocks of a person's usage (`demo`: the mock billed some of it)."""
    used = usage.spent_micros + usage.held_micros
    label = f" ({DEMO_PRICING})" if demo else ""
    lines = [f"*Your image spend in {month.label}*{label}"]
    if budget is None:
        lines.append(f"{format_usd(usage.spent_micros)} spent · no monthly limit")
    else:
        left = max(0, budget - used)
        lines.append(
            f"{format_usd(usage.spent_micros)} of {format_usd(budget)} used"
            f" · {format_usd(left)} left · resets {resets:%B} {resets.day}"
        )
        lines.append(budget_bar(used, budget))
    images = "image" if usage.images == 1 else "images"
    lines.append(f"{usage.images} {images} from {usage.jobs} finished requests")
    if usage.held_micros:
        lines.append(f"{format_usd(usage.held_micros)} held by requests still running")
    if recent:
        lines.append("\n*Recent requests*")
        lines += [recent_line(charge, zone) for charge in recent]
    text = "\n".join(lines)
    return text, text_blocks(text)


def recent_line(charge: RecentCharge, zone: ZoneInfo) -> str:
    """One recent request: its prompt escaped, then cut short."""
    when = charge.created_at.astimezone(zone)
    shown = clip(escape(" ".join(charge.prompt.split())), 60) or "(prompt removed)"
    return f"• {when:%b} {when.day} · {shown} · {_cost(charge)}"


def budget_bar(used: int, budget: int) -> str:
    share = 1.0 if budget <= 0 else min(1.0, used / budget)
    filled = round(share * _BAR_WIDTH)
    return f"`{'█' * filled}{'░' * (_BAR_WIDTH - filled)}` {share:.0%}"


def _cost(charge: RecentCharge) -> str:
    return cost_text(charge.status, charge.state, charge.amount_micros, charge.estimated)


def cost_text(status: str, state: str, micros: int, estimated: bool) -> str:
    """What a request costs its requester, from its charge's status."""
    if status == "held":
        return f"running (est. {format_usd(micros)})"
    if status == "released":
        return f"{state}, nothing charged"
    return format_usd(micros) + (" (estimate)" if estimated else "")

"""What people see of money: their own usage, admins' reports and budgets, and the notices
when a budget runs low."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.domain.demo_pricing import DEMO_PRICING
from bot.domain.periods import Period, PeriodError, month_of, next_month_start, parse_period
from bot.domain.usd import format_usd, parse_usd, to_micros
from bot.money.reports import Report, report_blocks, report_csv
from bot.slack.admins import Admins
from bot.slack.blockkit import Block, clip, escape, text_blocks
from bot.slack.client import SlackError, SlackOut, UploadFile
from bot.store import Job, Store
from bot.store.ledger import GROUPINGS, Grouping, RecentCharge

log = logging.getLogger(__name__)

ADMIN_ONLY = "Only imagebot admins can use `/image-admin`."
ADMIN_HELP = (
    "*/image-admin* (admins)\n"
    "• `report [this-month|last-month|7d|30d|YYYY-MM-DD..YYYY-MM-DD] [--by user|day|channel|model|"
    "quality] [--csv]`: spend report; `--csv` sends a CSV file to your DM\n"
    "• `budget <@user|default|team> <usd|none|reset>`: set a monthly budget (`none` = no limit,"
    " `reset` = back to the default)"
)
DEMO_NOTE = (
    "Demo pricing: the mock provider billed what fal's price guide says these images would"
    " cost. No money was spent."
)
_USER = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_BAR_WIDTH = 20
# A person's display name is looked up again after this long (people rename themselves).
NAME_REFRESH = timedelta(days=30)


@dataclass(frozen=True)
class AdminReply:
    text: str
    blocks: list[Block] | None = None


class Spend:
    def __init__(self, settings: Settings, store: Store, slack: SlackOut, admins: Admins) -> None:
        self.settings = settings
        self.store = store
        self.slack = slack
        self.admins = admins

    def month(self, moment: datetime | None = None) -> Period:
        return month_of(moment or self.store.clock(), self.settings.zone)

    async def user_budget(self, user_id: str) -> int | None:
        default = self.settings.user_monthly_budget
        return await self.store.budget_for(
            "user", user_id, None if default is None else to_micros(default)
        )

    async def team_budget(self) -> int | None:
        default = self.settings.team_monthly_budget
        return await self.store.budget_for(
            "team", "", None if default is None else to_micros(default)
        )

    # --- /image-usage and App Home -------------------------------------------------------------

    async def usage_blocks(self, user_id: str) -> tuple[str, list[Block]]:
        month = self.month()
        usage = await self.store.usage(user_id, month)
        budget = await self.user_budget(user_id)
        used = usage.spent_micros + usage.held_micros
        lines = [f"*Your image spend in {month.label}*{await self._demo_note(month, user_id)}"]
        if budget is None:
            lines.append(f"{format_usd(usage.spent_micros)} spent · no monthly limit")
        else:
            resets = next_month_start(self.store.clock(), self.settings.zone)
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
        recent = await self.store.recent_charges(user_id, 5)
        if recent:
            lines.append("\n*Recent requests*")
            lines += [recent_line(charge, self.settings.zone) for charge in recent]
        text = "\n".join(lines)
        return text, text_blocks(text)

    # --- /image-admin --------------------------------------------------------------------------

    async def admin(self, user_id: str, text: str) -> AdminReply:
        if not await self.admins.is_admin(user_id):
            return AdminReply(ADMIN_ONLY)
        words = text.split()
        if not words or words[0] == "help":
            return AdminReply(ADMIN_HELP)
        if words[0] == "report":
            return await self._report_command(user_id, words[1:])
        if words[0] == "budget":
            return await self._budget_command(user_id, words[1:])
        return AdminReply(f"I don't know `{escape(words[0])}`.\n{ADMIN_HELP}")

    async def report(self, period: Period, by: Grouping, *, names: bool = True) -> Report:
        report = await build_report(self.store, period, by, self.settings.zone)
        if not names:
            return report
        named = await self._names({row.user_id for row in report.rows})
        return Report(period, by, report.rows, named, report.held_micros)

    async def _report_command(self, user_id: str, words: list[str]) -> AdminReply:
        by: str = "user"
        csv = "--csv" in words
        rest = [w for w in words if w != "--csv"]
        if "--by" in rest:
            at = rest.index("--by")
            by = rest[at + 1] if at + 1 < len(rest) else ""
            del rest[at : at + 2]
        if by not in GROUPINGS:
            return AdminReply(f"`--by` takes one of {', '.join(GROUPINGS)}.")
        try:
            period = parse_period(" ".join(rest), self.store.clock(), self.settings.zone)
        except PeriodError as exc:
            return AdminReply(escape(str(exc)))
        report = await self.report(period, by)
        blocks = report_blocks(report)
        note = await self._demo_note(period)
        if note:
            blocks.insert(
                1, {"type": "context", "elements": [{"type": "mrkdwn", "text": DEMO_NOTE}]}
            )
        summary = f"Spend {period.label}: {format_usd(report.spend_micros)}{note}"
        if csv:
            await self._send_csv(user_id, report, note)
            summary += " (CSV sent to your DM)"
        return AdminReply(summary, blocks)

    async def _demo_note(self, period: Period, user_id: str | None = None) -> str:
        """ " (demo pricing)" when the mock provider billed any of the amounts shown."""
        return f" ({DEMO_PRICING})" if await self.store.demo_micros(period, user_id) else ""

    async def _send_csv(self, user_id: str, report: Report, note: str) -> None:
        channel = await self.slack.open_dm(user_id)
        first = report.period.start.astimezone(self.settings.zone)
        name = f"imagebot-spend-{first:%Y-%m-%d}-by-{report.by}.csv"
        title = f"Image spend, {report.period.label}, by {report.by}{note}"
        upload = UploadFile(filename=name, title=title, content=report_csv(report))
        await self.slack.upload(channel, None, [upload], title)

    async def _budget_command(self, admin_id: str, words: list[str]) -> AdminReply:
        if len(words) != 2:
            return AdminReply(
                "Use `budget <@user|default|team> <usd|none|reset>`, e.g. `budget @ana 25`."
            )
        target, value = words
        user = _USER.match(target)
        scope, subject = ("user", user.group(1)) if user else (target.lower(), "")
        if scope not in ("user", "default", "team"):
            return AdminReply(f"`{escape(target)}` isn't a person (@name), `default` or `team`.")
        if value.lower() == "reset":
            await self.store.clear_budget(scope, subject)
            return AdminReply(f"{_whose(scope, subject)} is back to the configured default.")
        try:
            micros = None if value.lower() == "none" else to_micros(parse_usd(value))
        except ValueError as exc:
            return AdminReply(
                f"{escape(str(exc))}. Use a number of dollars such as `25`, or `none`."
            )
        await self.store.set_budget(scope, subject, micros, by=admin_id)
        log.info("budget set scope=%s subject=%s micros=%s by=%s", scope, subject, micros, admin_id)
        figure = "no limit" if micros is None else f"{format_usd(micros)} a month"
        return AdminReply(f"{_whose(scope, subject)} is now {figure}.")

    async def _names(self, users: set[str]) -> dict[str, str]:
        """Names as Slack has them now (remembered for `imagebot report`), else as last seen."""
        names = await self.store.names()
        for user in sorted(users):
            name = await self._look_up(user)
            if name:
                names[user] = name
        return names

    async def _look_up(self, user: str) -> str:
        try:
            info = await self.slack.user_info(user)
        except SlackError as exc:
            log.info("users.info failed for %s: %s", user, exc.code)
            return ""
        profile = info.get("profile") or {}
        name = str(profile.get("display_name") or info.get("real_name") or info.get("name") or "")
        if name:
            await self.store.remember_name(user, name)
        return name

    async def learn_name(self, user: str) -> None:
        """Remember who spent, for reports made outside Slack (once a month at most)."""
        seen = await self.store.name_seen_at(user)
        if seen is None or self.store.clock() - seen > NAME_REFRESH:
            await self._look_up(user)

    # --- notices -------------------------------------------------------------------------------

    async def after_settle(self, job: Job) -> None:
        """Tell a person at 80% of their budget, and admins at 80% and 100% of the team's."""
        await self.learn_name(job.user_id)
        month = self.month(job.created_at)
        key = f"{month.start:%Y-%m}"
        budget = await self.user_budget(job.user_id)
        if budget:
            usage = await self.store.usage(job.user_id, month)
            used = usage.spent_micros + usage.held_micros
            if used >= budget * 0.8 and await self.store.claim_notice(
                f"user80:{job.user_id}:{key}"
            ):
                await self._dm(job.user_id, _user_notice(used, budget))
        team = await self.team_budget()
        if team:
            spent = await self.store.team_spend_micros(month)
            for percent in (100, 80):
                if spent >= team * percent / 100:
                    # Past 100% the 80% notice would only be stale news: claim it too.
                    fresh = [await self.store.claim_notice(f"team{p}:{key}") for p in (percent, 80)]
                    if fresh[0]:
                        for admin in await self.admins.ids():
                            await self._dm(admin, _team_notice(percent, spent, team))
                    break

    async def account_locked(self, detail: str) -> None:
        """fal refused the account: admins hear it at most once an hour."""
        hour = self.store.clock().astimezone(self.settings.zone)
        if not await self.store.claim_notice(f"locked:{hour:%Y-%m-%dT%H}"):
            return
        text = (
            "fal refused imagebot's account, so image requests are failing. It may be locked or"
            f" out of balance; check fal's billing page. fal said: {detail[:300]}"
        )
        for admin in await self.admins.ids():
            await self._dm(admin, text)

    async def _dm(self, user_id: str, text: str) -> None:
        try:
            await self.slack.dm(user_id, text)
        except SlackError as exc:
            log.warning("notice to %s failed: %s", user_id, exc.code)


async def build_report(store: Store, period: Period, by: Grouping, zone: ZoneInfo) -> Report:
    """Settled spend of the period grouped `by`, without names (Slack knows those)."""
    rows = await store.spend_rows(period, by, zone)
    return Report(period, by, rows, {}, await store.held_micros(period))


def recent_line(charge: RecentCharge, zone: ZoneInfo) -> str:
    """One recent request in /image-usage: its prompt escaped, then cut short."""
    when = charge.created_at.astimezone(zone)
    shown = clip(escape(" ".join(charge.prompt.split())), 60) or "(prompt removed)"
    return f"• {when:%b} {when.day} · {shown} · {_cost(charge)}"


def budget_bar(used: int, budget: int) -> str:
    share = 1.0 if budget <= 0 else min(1.0, used / budget)
    filled = round(share * _BAR_WIDTH)
    return f"`{'█' * filled}{'░' * (_BAR_WIDTH - filled)}` {share:.0%}"


def _cost(charge: RecentCharge) -> str:
    if charge.status == "held":
        return f"running (est. {format_usd(charge.amount_micros)})"
    if charge.status == "released":
        return f"{charge.state}, nothing charged"
    return format_usd(charge.amount_micros) + (" (estimate)" if charge.estimated else "")


def _whose(scope: str, subject: str) -> str:
    return {"user": f"<@{subject}>'s monthly budget", "default": "The default monthly budget"}.get(
        scope, "The team's monthly budget"
    )


def _user_notice(used: int, budget: int) -> str:
    return (
        f"Heads up: you've used {used / budget:.0%} of your monthly image budget"
        f" ({format_usd(used)} of {format_usd(budget)}). `/image-usage` shows the details."
    )


def _team_notice(percent: int, spent: int, budget: int) -> str:
    figures = f"({format_usd(spent)} of {format_usd(budget)})"
    if percent >= 100:
        return (
            f"The team's monthly image budget is used up {figures}: new requests are refused"
            " until next month or until an admin raises it."
        )
    return f"The team has used {spent / budget:.0%} of its monthly image budget {figures}."

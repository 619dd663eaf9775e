"""`/image-admin`: spend reports (in Slack, and as a CSV file in the admin's DM) and monthly
budgets, for admins only; anyone else is refused without learning anything."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from bot.domain.demo_pricing import DEMO_PRICING
from bot.domain.periods import PeriodError, parse_period
from bot.domain.usd import format_usd, parse_usd, to_micros
from bot.money.budgets import Budgets
from bot.money.reports import report_csv
from bot.money.spend import Spend
from bot.slack.admins import Admins
from bot.slack.blockkit import Block, escape
from bot.slack.client import SlackOut, UploadFile
from bot.slack.views.reports import report_blocks
from bot.store import Store
from bot.store.ledger import GROUPINGS
from bot.store.report import Report

log = logging.getLogger(__name__)

ADMIN_ONLY = "Only imagebot admins can use `/image-admin`."
ADMIN_HELP = (
    "*/image-admin* (admins)\n"
    "• `report [this-month|last-month|7d|30d|YYYY-MM-DD..YYYY-MM-DD]"
    " [--by user|day|channel|model|style|quality] [--csv]`: spend report; `--csv` sends a CSV"
    " file to your DM\n"
    "• `budget <@user|default|team> <usd|none|reset>`: set a monthly budget (`none` = no limit,"
    " `reset` = back to the default)\n"
    "• `model default <model>`, `model channel <#channel> <model|reset>`: default models;"
    " `model allow|deny <model>`\n"
    '• `style add <name> --model <model> [--lora <url>[:<scale>]]… [--prefix "…"]'
    ' [--suffix "…"] [options]`, `style remove|show <name>`'
)
_USER = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")


@dataclass(frozen=True)
class AdminReply:
    text: str
    blocks: list[Block] | None = None


class AdminCommand:
    def __init__(
        self, store: Store, slack: SlackOut, admins: Admins, spend: Spend, budgets: Budgets
    ) -> None:
        self.store = store
        self.slack = slack
        self.admins = admins
        self.spend = spend
        self.budgets = budgets

    async def run(self, user_id: str, text: str) -> AdminReply:
        if not await self.admins.is_admin(user_id):
            return AdminReply(ADMIN_ONLY)
        words = text.split()
        if not words or words[0] == "help":
            return AdminReply(ADMIN_HELP)
        if words[0] == "report":
            return await self._report(user_id, words[1:])
        if words[0] == "budget":
            return await self._budget(user_id, words[1:])
        return AdminReply(f"I don't know `{escape(words[0])}`.\n{ADMIN_HELP}")

    async def _report(self, user_id: str, words: list[str]) -> AdminReply:
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
            period = parse_period(" ".join(rest), self.store.clock(), self.budgets.zone)
        except PeriodError as exc:
            return AdminReply(escape(str(exc)))
        report = await self.spend.report(period, by)
        demo = await self.spend.demo_priced(period)
        note = f" ({DEMO_PRICING})" if demo else ""
        summary = f"Spend {period.label}: {format_usd(report.spend_micros)}{note}"
        if csv:
            await self._send_csv(user_id, report, note)
            summary += " (CSV sent to your DM)"
        return AdminReply(summary, report_blocks(report, demo=demo))

    async def _send_csv(self, user_id: str, report: Report, note: str) -> None:
        channel = await self.slack.open_dm(user_id)
        first = report.period.start.astimezone(self.budgets.zone)
        name = f"imagebot-spend-{first:%Y-%m-%d}-by-{report.by}.csv"
        title = f"Image spend, {report.period.label}, by {report.by}{note}"
        upload = UploadFile(filename=name, title=title, content=report_csv(report))
        await self.slack.upload(channel, None, [upload], title)

    async def _budget(self, admin_id: str, words: list[str]) -> AdminReply:
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


def _whose(scope: str, subject: str) -> str:
    return {"user": f"<@{subject}>'s monthly budget", "default": "The default monthly budget"}.get(
        scope, "The team's monthly budget"
    )

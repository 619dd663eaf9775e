"""The App Home tab: a person's own usage; for admins also the team's month and a spend chart.

The chart is drawn in a worker thread and uploaded once every few minutes at most; the tab is
published at once without it and again when it is ready.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from bot.blocks import Block, text_blocks
from bot.pricing import format_usd
from bot.reports import spend_chart_png
from bot.slack import SlackError, UploadFile
from bot.spend import Spend, budget_bar

log = logging.getLogger(__name__)
CHART_SECONDS = 600.0


class Home:
    def __init__(self, spend: Spend) -> None:
        self.spend = spend
        self.slack = spend.slack
        self._chart: tuple[float, str] | None = None
        self._chart_lock = asyncio.Lock()

    async def publish(self, user_id: str) -> None:
        _, mine = await self.spend.usage_blocks(user_id)
        blocks: list[Block] = [*mine]
        admin = await self.spend.admins.is_admin(user_id)
        if admin:
            blocks += [{"type": "divider"}, *await self._team_blocks()]
        await self.slack.publish_home(user_id, _view(blocks))
        if admin:
            file_id = await self._chart_file()
            if file_id is not None:
                chart = {
                    "type": "image",
                    "slack_file": {"id": file_id},
                    "alt_text": "Team image spend per day this month",
                }
                await self.slack.publish_home(user_id, _view([*blocks, chart]))

    async def _team_blocks(self) -> list[Block]:
        month = self.spend.month()
        report = await self.spend.report(month, "user", names=False)
        team = await self.spend.team_budget()
        used = report.spend_micros + report.held_micros
        lines = [f"*Team spend in {month.label}*", f"{format_usd(report.spend_micros)} spent"]
        if team:
            lines[1] += f" of {format_usd(team)}"
            lines.append(budget_bar(used, team))
        lines.append(f"{report.images} images from {report.jobs} requests")
        top = report.top_spenders(5)
        if top:
            lines.append("\n*Top spenders*")
            lines += [f"• <@{t.key}> {format_usd(t.spend_micros)} ({t.jobs} requests)" for t in top]
        return text_blocks("\n".join(lines))

    async def _chart_file(self) -> str | None:
        async with self._chart_lock:
            if self._chart is not None and time.monotonic() - self._chart[0] < CHART_SECONDS:
                return self._chart[1]
            month = self.spend.month()
            days = await self.spend.store.daily_spend(month, self.spend.settings.zone)
            png = await asyncio.to_thread(spend_chart_png, days, f"Image spend, {month.label}")
            upload = UploadFile(filename="imagebot-spend.png", title="Team spend", content=png)
            try:
                (file_id,) = await self.slack.upload(None, None, [upload], None)
            except (SlackError, ValueError) as exc:
                log.warning("spend chart upload failed: %s", exc)
                return None
            self._chart = (time.monotonic(), file_id)
            return file_id


def _view(blocks: list[Block]) -> dict[str, Any]:
    return {"type": "home", "blocks": blocks[:100]}

"""Reconciliation: the bot's charges against fal's own records, which are the final word.

Every ledger line that names a fal request is compared with fal's billing event for it, and
every request fal billed in the period that the bot has no line for is listed. With `fix`,
a line that differs is settled to fal's figure (the old one is kept), and a request the bot
never stored is booked: to the person whose job it was, when fal's request history shows that
job's inputs (a submit whose answer was lost, sent again), else to the unattributed line that
admin reports show. A second run finds nothing to fix.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from bot.config import ConfigError, Settings
from bot.domain.periods import Period, date_range
from bot.domain.usd import format_usd
from bot.providers.catalog import Catalog, model_catalog
from bot.providers.fal.platform import BillingEvent, FalPlatform, HistoryItem, PlatformError
from bot.store import Job, Store
from bot.store.reconciliation import UNATTRIBUTED, Booking, LedgerLine

log = logging.getLogger(__name__)

Verdict = Literal["matched", "differs", "missing at fal", "unknown to the bot"]
VERDICTS: tuple[Verdict, ...] = ("matched", "differs", "missing at fal", "unknown to the bot")
# fal bills when a request ends, which can be after the day its job was created.
_EDGE = timedelta(days=1)
# How long after a job was created a request of its own can have been sent (a retried submit).
_SAME_JOB = timedelta(hours=1)


@dataclass(frozen=True)
class Row:
    verdict: Verdict
    request_id: str
    endpoint_id: str
    bot_micros: int | None
    fal_micros: int | None
    job_id: str | None = None
    user_id: str | None = None
    note: str = ""
    line: LedgerLine | None = None
    event: BillingEvent | None = None


@dataclass
class Outcome:
    period: Period
    rows: list[Row]
    fixed: list[str] = field(default_factory=list)

    def of(self, verdict: Verdict) -> list[Row]:
        return [row for row in self.rows if row.verdict == verdict]

    @property
    def to_fix(self) -> list[Row]:
        return self.of("differs") + self.of("unknown to the bot")


class Reconciler:
    def __init__(self, store: Store, platform: FalPlatform, catalog: Catalog) -> None:
        self.store = store
        self.ledger = store.reconciliation
        self.platform = platform
        self.catalog = catalog

    async def run(self, period: Period, *, fix: bool = False) -> Outcome:
        lines = await self.ledger.lines(period.start, period.end)
        endpoints = sorted({*self.catalog.endpoints, *(line.endpoint_id for line in lines)})
        events = await self.platform.billing_events(
            period.start - _EDGE, min(period.end + _EDGE, self.store.clock()),
            endpoint_ids=endpoints,
        )  # fmt: skip
        billed = _by_request(events)
        unseen = [line.request_id for line in lines if line.request_id not in billed]
        if unseen:  # billed long after the period, or under an endpoint the bot never used
            late = await self.platform.billing_events(
                period.start - _EDGE, self.store.clock(), request_ids=unseen
            )
            billed.update(_by_request(late))
        rows = [_compare(line, billed.get(line.request_id)) for line in lines]
        rows += await self._unknown(period, billed)
        outcome = Outcome(period, rows)
        if fix:
            outcome.fixed = [await self._fix(row) for row in outcome.to_fix]
            for row in rows:
                await self._note_endpoint(row)
        return outcome

    async def _note_endpoint(self, row: Row) -> None:
        """Record the endpoint fal billed a job's request under when it is not the one asked
        for (a fallback fal chose)."""
        event, line = row.event, row.line
        if event and line and line.job_id and event.endpoint_id != line.endpoint_id:
            await self.ledger.note_billed_endpoint(line.job_id, event.endpoint_id)

    async def _unknown(self, period: Period, billed: dict[str, BillingEvent]) -> list[Row]:
        """Requests fal billed in the period that no job or ledger line names."""
        inside = {rid: e for rid, e in billed.items() if period.start <= e.timestamp < period.end}
        known = await self.ledger.known(sorted(inside))
        rows = []
        for request_id, event in sorted(inside.items(), key=lambda item: item[1].timestamp):
            if request_id in known:
                continue
            job = await self._owner(event)
            note = f"same inputs as job {job.id}" if job else "no job sent these inputs"
            rows.append(
                Row(
                    "unknown to the bot", request_id, event.endpoint_id, None,
                    event.cost_micros, job.id if job else None,
                    job.user_id if job else None, note, event=event,
                )
            )  # fmt: skip
        return rows

    async def _owner(self, event: BillingEvent) -> Job | None:
        """The job this request was sent for, by its inputs in fal's request history: the job
        with the same inputs created shortly before fal received it."""
        schema = self.catalog.schema_of(event.endpoint_id)
        history = await self.platform.requests(
            [event.endpoint_id], event.timestamp - _EDGE, event.timestamp + timedelta(minutes=5),
            request_id=event.request_id,
        )  # fmt: skip
        item = next((h for h in history if h.request_id == event.request_id), None)
        if schema is None or item is None or item.json_input is None:
            return None
        sent = item.sent_at or event.timestamp
        async for job_id in self.ledger.job_ids_near(
            event.endpoint_id, sent - _SAME_JOB, sent + timedelta(minutes=1)
        ):
            job = await self.store.get_job(job_id)
            if job is not None and _sent_by(self.catalog, job, item):
                return job
        return None

    async def _fix(self, row: Row) -> str:
        event = row.event
        assert event is not None
        if row.line is not None:
            await self.ledger.settle_to_fal(row.line.id, event.cost_micros, event.units)
            was, now = format_usd(row.line.amount_micros), format_usd(event.cost_micros)
            return f"settled {_short(row.request_id)} to fal's {now} (was {was})"
        job = await self.store.get_job(row.job_id) if row.job_id else None
        await self.ledger.book(_booking(event, job))
        whom = f"<@{job.user_id}> (job {job.id})" if job else UNATTRIBUTED
        return f"booked {_short(row.request_id)}, {format_usd(event.cost_micros)}, to {whom}"


def _compare(line: LedgerLine, event: BillingEvent | None) -> Row:
    """A line against fal's bill for its request: an estimate never counts as matched."""
    verdict: Verdict = "matched" if line.amount_micros == 0 else "missing at fal"
    note = ""
    if event is not None:
        same = event.cost_micros == line.amount_micros and not line.estimated
        verdict = "matched" if same else "differs"
        note = "the bot's figure is an estimate" if line.estimated else ""
        if event.endpoint_id != line.endpoint_id:
            note = f"billed by {event.endpoint_id}"
    return Row(
        verdict, line.request_id, line.endpoint_id, line.amount_micros,
        None if event is None else event.cost_micros, line.job_id, line.user_id, note,
        line, event,
    )  # fmt: skip


def _by_request(events: list[BillingEvent]) -> dict[str, BillingEvent]:
    """One event per request (fal may split one request's bill over several events)."""
    grouped: dict[str, list[BillingEvent]] = defaultdict(list)
    for event in events:
        grouped[event.request_id].append(event)
    return {rid: _combined(found) for rid, found in grouped.items()}


def _combined(events: list[BillingEvent]) -> BillingEvent:
    if len(events) == 1:
        return events[0]
    first = min(events, key=lambda e: e.timestamp)
    units = sum((e.units for e in events), Decimal(0))
    nano = sum(e.cost_micros * 1000 for e in events)
    return BillingEvent(
        first.request_id, first.endpoint_id, first.timestamp, units, first.unit_price, None, nano
    )


def _sent_by(catalog: Catalog, job: Job, item: HistoryItem) -> bool:
    profile = catalog.profile_of(item.endpoint_id or job.endpoint_id)
    schema = profile.schema_of(item.endpoint_id or job.endpoint_id) if profile else None
    inputs = item.json_input
    if profile is None or schema is None or inputs is None:
        return False
    if job.endpoint_id != schema.endpoint_id:
        return False
    return schema.same_request(profile.request_inputs(job.kind, job.request), inputs)


def _booking(event: BillingEvent, job: Job | None) -> Booking:
    booking = Booking(
        event.request_id, event.endpoint_id, event.cost_micros, event.units, event.timestamp
    )
    if job is None:
        return booking
    return replace(
        booking, job_id=job.id, user_id=job.user_id, team_id=job.team_id,
        channel_id=job.channel_id, quality=job.request.quality or "", images=job.request.n,
    )  # fmt: skip


def _short(request_id: str) -> str:
    return request_id[:13]


def table(outcome: Outcome) -> str:
    """The outcome for a terminal: a line per verdict with amounts, then what needs a look."""
    period = outcome.period
    lines = [f"fal reconciliation: {period.label}", ""]
    for verdict in VERDICTS:
        rows = outcome.of(verdict)
        ours = format_usd(sum(r.bot_micros or 0 for r in rows))
        fals = format_usd(sum(r.fal_micros or 0 for r in rows))
        lines.append(f"{verdict:<20}{len(rows):>6}   bot {ours:>10}   fal {fals:>10}")
    detail = [r for r in outcome.rows if r.verdict != "matched" or r.note]
    if detail:
        lines += ["", f"{'':<20}{'request':<38}{'job':<15}{'person':<14}{'bot':>10}{'fal':>10}"]
    for row in detail:
        who = row.user_id or UNATTRIBUTED
        bot = "-" if row.bot_micros is None else format_usd(row.bot_micros)
        fal = "-" if row.fal_micros is None else format_usd(row.fal_micros)
        lines.append(
            f"{row.verdict:<20}{row.request_id:<38}{row.job_id or '-':<15}{who:<14}"
            f"{bot:>10}{fal:>10}  {row.note}".rstrip()
        )
    lines.append("")
    if outcome.fixed:
        lines += ["Fixed:", *(f"  {fix}" for fix in outcome.fixed)]
    elif outcome.to_fix:
        lines.append(f"{len(outcome.to_fix)} to fix: run again with --fix to settle them.")
    else:
        lines.append("Nothing to fix.")
    return "\n".join(lines) + "\n"


class DailyCheck:
    """The daily reconciliation while the bot runs (with FAL_ADMIN_KEY): the last week, fixed,
    since fal's billing events can come in a while after a job ends."""

    def __init__(self, reconciler: Reconciler, zone: ZoneInfo, days: int = 7) -> None:
        self.reconciler = reconciler
        self.zone = zone
        self.days = days

    async def __call__(self) -> None:
        today = self.reconciler.store.clock().astimezone(self.zone).date()
        period = date_range(today - timedelta(days=self.days), today, self.zone)
        outcome = await self.reconciler.run(period, fix=True)
        counts = " ".join(f"{v.replace(' ', '_')}={len(outcome.of(v))}" for v in VERDICTS)
        log.info("reconciled with fal's records %s fixed=%d", counts, len(outcome.fixed))
        for fix in outcome.fixed:
            log.info("reconcile: %s", fix)


def command(settings: Settings, period: Period, *, fix: bool) -> int:
    """`imagebot reconcile`: print the comparison for the period; with `fix`, settle it."""
    path = settings.database_target
    if isinstance(path, Path) and not path.exists():
        raise ConfigError(f"IMAGEBOT_DATABASE_URL: there is no database at {path}")
    key = settings.fal_platform_key()
    if key is None:
        raise ConfigError(
            "FAL_ADMIN_KEY is not set: reconciling reads fal's billing events, which need an"
            " admin key (FAL_KEY is used when it is the only one)"
        )

    catalog = model_catalog(settings)

    async def run() -> Outcome:
        store = await Store.open(path)
        platform = FalPlatform(settings.fal_api_url, key)
        try:
            return await Reconciler(store, platform, catalog).run(period, fix=fix)
        finally:
            await platform.close()
            await store.close()

    try:
        outcome = asyncio.run(run())
    except PlatformError as exc:
        print(f"imagebot: {exc.message}", file=sys.stderr)
        return 1
    print(table(outcome), end="")
    return 0

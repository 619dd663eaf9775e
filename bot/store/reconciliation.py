"""The SQL of reconciliation with fal's records: the ledger lines that name a fal request,
settling a line to fal's figure (keeping the old one), and booking a request fal billed that
no job claims, to the person whose job it was or to the unattributed line."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from bot.store.records import from_ms, to_ms
from bot.store.sql import Conn, Row, read_all

UNATTRIBUTED = "unattributed"

Writer = Callable[[], AbstractAsyncContextManager[Conn]]


@dataclass(frozen=True)
class LedgerLine:
    """A charge that names a fal request: a job's own, or one booked from fal's records."""

    id: int
    request_id: str
    endpoint_id: str
    job_id: str | None
    line: str
    user_id: str
    status: str
    amount_micros: int
    estimated: bool
    created_at: datetime


@dataclass(frozen=True)
class Booking:
    """A request fal billed that no job claims, to be written as a ledger line."""

    request_id: str
    endpoint_id: str
    micros: int
    units: Decimal
    billed_at: datetime
    job_id: str | None = None
    user_id: str = UNATTRIBUTED
    team_id: str = ""
    channel_id: str = ""
    quality: str = ""
    images: int = 0


class Reconciliation:
    def __init__(self, reader: Conn, write: Writer, now_ms: Callable[[], int]):
        self._reader = reader
        self._write = write
        self._now_ms = now_ms

    async def lines(self, start: datetime, end: datetime) -> list[LedgerLine]:
        """Settled or released lines created in [start, end) that name a fal request."""
        rows = await read_all(
            self._reader,
            "SELECT c.id, COALESCE(c.fal_request_id, j.fal_request_id) AS request_id,"
            " COALESCE(j.endpoint_id, c.model) AS endpoint_id, c.job_id, c.line, c.user_id,"
            " c.status, c.amount_micros, c.estimated, c.created_at FROM charges c"
            " LEFT JOIN jobs j ON j.id = c.job_id AND c.line = 'job'"
            " WHERE c.created_at >= ? AND c.created_at < ? AND c.status != 'held'"
            " AND COALESCE(c.fal_request_id, j.fal_request_id) IS NOT NULL ORDER BY c.created_at",
            (to_ms(start), to_ms(end)),
        )
        return [_line(row) for row in rows]

    async def known(self, request_ids: Sequence[str]) -> set[str]:
        """Which of these fal requests a job or a ledger line already names."""
        found: set[str] = set()
        for at in range(0, len(request_ids), 500):
            chunk = list(request_ids[at : at + 500])
            marks = ",".join("?" * len(chunk))
            rows = await read_all(
                self._reader,
                f"SELECT fal_request_id FROM jobs WHERE fal_request_id IN ({marks}) UNION"
                f" SELECT fal_request_id FROM charges WHERE fal_request_id IN ({marks})",
                (*chunk, *chunk),
            )
            found.update(row[0] for row in rows)
        return found

    async def settle_to_fal(self, line_id: int, micros: int, units: Decimal) -> bool:
        """Settle a line at fal's figure; the figure it had is kept in `previous_micros`."""
        now = self._now_ms()
        async with self._write() as db:
            changed = await db.execute(
                "UPDATE charges SET previous_micros = amount_micros, amount_micros = ?,"
                " billed_units = ?, status = 'settled', estimated = 0, reconciled_at = ?,"
                " settled_at = COALESCE(settled_at, ?) WHERE id = ? AND status != 'held'",
                (micros, str(units), now, now, line_id),
            )
            return changed == 1

    async def book(self, booking: Booking) -> bool:
        """Write a booked line once (a request already booked is left as it is)."""
        line = UNATTRIBUTED if booking.job_id is None else "extra_request"
        now = self._now_ms()
        async with self._write() as db:
            changed = await db.execute(
                "INSERT OR IGNORE INTO charges (job_id, line, fal_request_id, team_id, user_id,"
                " channel_id, model, quality, images, status, estimate_micros, amount_micros,"
                " estimated, billed_units, created_at, settled_at, reconciled_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,'settled',0,?,0,?,?,?,?)",
                (
                    booking.job_id, line, booking.request_id, booking.team_id, booking.user_id,
                    booking.channel_id, booking.endpoint_id, booking.quality, booking.images,
                    booking.micros, str(booking.units), to_ms(booking.billed_at), now, now,
                ),
            )  # fmt: skip
            return changed == 1

    async def note_billed_endpoint(self, job_id: str, endpoint_id: str) -> None:
        """fal billed the job's request under another endpoint (a fallback fal chose)."""
        async with self._write() as db:
            await db.execute(
                "UPDATE jobs SET billed_endpoint = ? WHERE id = ?", (endpoint_id, job_id)
            )

    async def job_ids_near(
        self, endpoint_id: str, start: datetime, end: datetime
    ) -> AsyncIterator[str]:
        """Jobs for this endpoint created in [start, end), nearest to `end` first."""
        rows = await read_all(
            self._reader,
            "SELECT id FROM jobs WHERE endpoint_id = ? AND created_at >= ? AND created_at < ?"
            " ORDER BY created_at DESC",
            (endpoint_id, to_ms(start), to_ms(end)),
        )
        for row in rows:
            yield str(row[0])


def _line(row: Row) -> LedgerLine:
    return LedgerLine(
        id=row["id"],
        request_id=row["request_id"],
        endpoint_id=row["endpoint_id"],
        job_id=row["job_id"],
        line=row["line"],
        user_id=row["user_id"],
        status=row["status"],
        amount_micros=row["amount_micros"],
        estimated=bool(row["estimated"]),
        created_at=from_ms(row["created_at"]),
    )

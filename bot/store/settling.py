"""How a job's own charge leaves `held`: released when fal billed nothing, else settled at
fal's bill (or at the estimate, marked as one, when fal ran it but never said how much).
Written inside the transaction the store opens for the job's transition."""

from __future__ import annotations

from collections.abc import Sequence

from bot.store.records import Bill, JobState
from bot.store.sql import Conn


async def settle(db: Conn, job_id: str, bill: Bill | None, now: int) -> None:
    units = None if bill is None or bill.units is None else str(bill.units)
    args: tuple[object, ...] = ()
    if bill is None:
        ending = "status = 'released', amount_micros = 0"
    else:
        ending = "status = 'settled', amount_micros = COALESCE(?, estimate_micros),"
        ending += " estimated = ?, billed_units = ?"
        args = (bill.micros, int(bill.micros is None), units)
    await db.execute(
        f"UPDATE charges SET {ending}, settled_at = ?"
        " WHERE job_id = ? AND line = 'job' AND status = 'held'",
        (*args, now, job_id),
    )


async def end(
    db: Conn,
    job_id: str,
    state: JobState,
    allowed: Sequence[JobState],
    why: tuple[str, str],
    bill: Bill | None,
    now: int,
    extra: str = "",
) -> bool:
    """End the job (failed or cancelled, with `why` = kind and message) and settle its charge.
    False when the job is not in an `allowed` state (or fails the `extra` condition)."""
    marks = ",".join("?" * len(allowed))
    units = None if bill is None or bill.units is None else str(bill.units)
    changed = await db.execute(
        f"UPDATE jobs SET state = ?, error_kind = ?, error_message = ?, finished_at = ?,"
        f" billed_units = COALESCE(?, billed_units), updated_at = ?"
        f" WHERE id = ? AND state IN ({marks}){extra}",
        (state, *why, now, units, now, job_id, *allowed),
    )
    if changed != 1:
        return False
    await settle(db, job_id, bill, now)
    return True

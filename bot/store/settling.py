"""How a job's own charge leaves `held`: released when fal billed nothing, else settled at
fal's bill (or at the estimate, marked as one, when fal ran it but never said how much).
Written inside the transaction the store opens for the job's transition."""

from __future__ import annotations

from bot.store.records import Bill
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

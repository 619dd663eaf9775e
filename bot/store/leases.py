"""Which replica drives which job: leases, claims, the limits of jobs at fal, and the log of who
stepped each job.

A job's `owner` holds it until `lease_until`, renewing while it works. A job with no lease, or
an expired one, may be claimed by any replica: on PostgreSQL with `FOR UPDATE SKIP LOCKED`
(two replicas claiming at once take different jobs), on SQLite with the same `UPDATE …
RETURNING` under its one writer. A parked job (owner cleared, `lease_until` a follow-up
deadline) waits for news from fal and is claimed when the deadline passes.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Sequence

from bot.store.sql import Conn, read_all

_OPEN = "(state IN ('held', 'submitted', 'generated') OR card_done = 0)"
# A claim takes at most this many jobs at once; the next claim takes more.
CLAIM_BATCH = 200


class LeaseLost(Exception):
    """The job is driven by another replica now: this one must leave it alone."""

    def __init__(self, job_id: str, owner: str) -> None:
        super().__init__(f"job {job_id} is held by {owner}")
        self.job_id = job_id
        self.owner = owner


def replica_id() -> str:
    """This process's name in leases and in the transition log: host, pid and a random part
    (a restarted process with a recycled pid is still someone else)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


async def claim(db: Conn, replica: str, now: int, until: int, *, every: bool = False) -> list[str]:
    """Take unfinished jobs that nobody holds (or, with `every`, all of them: a lone SQLite
    process at its start); their ids, oldest first."""
    free = "" if every else " AND (lease_until IS NULL OR lease_until <= ?)"
    skip = " FOR UPDATE SKIP LOCKED" if db.dialect == "postgresql" else ""
    rows = await db.fetch(
        "UPDATE jobs SET owner = ?, lease_until = ? WHERE id IN ("
        f"SELECT id FROM jobs WHERE {_OPEN}{free} ORDER BY created_at LIMIT ?{skip})"
        " RETURNING id, created_at",
        (replica, until, *(() if every else (now,)), CLAIM_BATCH),
    )
    return [row[0] for row in sorted(rows, key=lambda row: (row[1], row[0]))]


async def claim_one(db: Conn, job_id: str, replica: str, now: int, until: int) -> bool:
    """Take one unfinished job unless another replica's lease on it is still running (a parked
    job is taken at once)."""
    rows = await db.fetch(
        "UPDATE jobs SET owner = ?, lease_until = ?"
        f" WHERE id = ? AND {_OPEN} AND (owner IS NULL OR owner = ? OR lease_until <= ?)"
        " RETURNING id",
        (replica, until, job_id, replica, now),
    )
    return bool(rows)


async def renew(db: Conn, replica: str, job_ids: Sequence[str], until: int) -> set[str]:
    """Extend this replica's leases on `job_ids`; the ids it still holds."""
    if not job_ids:
        return set()
    marks = ",".join("?" * len(job_ids))
    rows = await db.fetch(
        f"UPDATE jobs SET lease_until = ? WHERE owner = ? AND id IN ({marks}) RETURNING id",
        (until, replica, *job_ids),
    )
    return {row[0] for row in rows}


async def release(db: Conn, replica: str) -> int:
    """Let go of every job this replica holds, at once (a graceful stop). A job that took a
    slot but sent nothing to fal gives the slot back."""
    return await db.execute(
        "UPDATE jobs SET owner = NULL, lease_until = NULL, slot_at = CASE WHEN state = 'held'"
        " AND submit_sent_at IS NULL THEN NULL ELSE slot_at END WHERE owner = ?",
        (replica,),
    )


async def park(db: Conn, job_id: str, replica: str, until: int) -> bool:
    """Let go of a job fal will report on, until `until`: then anyone follows it."""
    changed = await db.execute(
        "UPDATE jobs SET owner = NULL, lease_until = ? WHERE id = ? AND owner = ?",
        (until, job_id, replica),
    )
    return changed == 1


async def check_owner(db: Conn, job_id: str, replica: str) -> None:
    """Raise LeaseLost when another replica holds the job (a step was refused for it)."""
    rows = await read_all(db, "SELECT owner FROM jobs WHERE id = ?", (job_id,))
    if rows and rows[0]["owner"] not in (None, replica):
        raise LeaseLost(job_id, rows[0]["owner"])


def held_by(replica: str) -> tuple[str, tuple[str]]:
    """The condition a step adds: no other replica holds the job."""
    return " AND (owner IS NULL OR owner = ?)", (replica,)


async def log_step(db: Conn, job_id: str, step: str, replica: str, now: int) -> None:
    await db.execute(
        "INSERT INTO job_transitions (job_id, step, replica, at) VALUES (?, ?, ?, ?)",
        (job_id, step, replica, now),
    )


async def take_slot(
    db: Conn, job_id: str, user_id: str, limits: tuple[int, int], replica: str, now: int
) -> bool:
    """Count the job as at fal if the bot's limits allow (jobs at fal in all, and this
    person's), across replicas: the count and the mark are one serialised transaction. True
    too when the job has nothing to wait for (counted already, or no longer held: cancelled)."""
    await db.serialise("slots")
    own = await read_all(db, "SELECT state, slot_at, owner FROM jobs WHERE id = ?", (job_id,))
    if not own or own[0]["state"] != "held" or own[0]["slot_at"] is not None:
        return True
    if own[0]["owner"] not in (None, replica):
        raise LeaseLost(job_id, own[0]["owner"])
    (row,) = await read_all(
        db,
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN user_id = ? THEN 1 ELSE 0 END), 0) FROM jobs"
        " WHERE slot_at IS NOT NULL AND state IN ('held', 'submitted')",
        (user_id,),
    )
    if int(row[0]) >= limits[0] or int(row[1]) >= limits[1]:
        return False
    await db.execute("UPDATE jobs SET slot_at = ? WHERE id = ?", (now, job_id))
    return True

"""Admission: the budget check and the hold, written in the one transaction the store opens.

Budgets set by admins in the database win over the configured defaults. Spend counts settled
and held charges created in the budget's month.
"""

from __future__ import annotations

import secrets
from typing import Literal

from bot.store.records import Admission, Admitted, Duplicate, NewJob, Refused, dump_inputs, held_job
from bot.store.sql import Conn, read_all


def new_job_id() -> str:
    return "j" + secrets.token_hex(6)


async def admit(
    db: Conn,
    new: NewJob,
    month: tuple[int, int],
    user_default: int | None,
    team_default: int | None,
    now: int,
    lease: tuple[str, int],
) -> Admission:
    """Write the job and its hold unless that would pass a budget (inside the writer's
    transaction: BEGIN IMMEDIATE on SQLite, advisory locks on PostgreSQL). The job is written
    leased (`lease`: owner and until when) to the replica that admits it."""
    # Replicas on PostgreSQL take turns per person (so a delivery seen by two replicas is
    # admitted once too), and per team when a team budget counts.
    await db.serialise(f"budget:user:{new.user_id}")
    if new.source_key is not None:
        found = await read_all(db, "SELECT id FROM jobs WHERE source_key = ?", (new.source_key,))
        if found:
            return Duplicate(found[0]["id"])
    budgets = await _budgets(db, new.user_id, user_default, team_default)
    if budgets["team"] is not None:
        await db.serialise("budget:team")
    spent = await _spent(db, new.user_id, *month, team=budgets["team"] is not None)
    for scope in ("user", "team"):
        limit = budgets[scope]
        if limit is not None and spent[scope] + new.estimate_micros > limit:
            return Refused(scope, limit, spent[scope], new.estimate_micros)
    job_id = new_job_id()
    await _insert_job(db, job_id, new, now, lease)
    return Admitted(held_job(job_id, new, now))


async def _budgets(
    db: Conn, user_id: str, user_default: int | None, team_default: int | None
) -> dict[Literal["user", "team"], int | None]:
    """The budgets that apply, in one query: an admin's figure for this person wins over the
    admins' default, which wins over the configured one; NULL in a row means no limit."""
    rows = await read_all(
        db,
        "SELECT scope, amount_micros FROM budgets WHERE (scope = 'user' AND subject = ?)"
        " OR scope IN ('default', 'team')",
        (user_id,),
    )
    found = {row["scope"]: row["amount_micros"] for row in rows}
    user = found["user"] if "user" in found else found.get("default", user_default)
    return {"user": user, "team": found.get("team", team_default)}


async def budget(db: Conn, scope: str, subject: str, fallback: int | None) -> int | None:
    """The budget that applies to one person (scope "user") or to the team."""
    if scope == "team":
        return (await _budgets(db, "", None, fallback))["team"]
    return (await _budgets(db, subject, fallback, None))["user"]


async def _spent(
    db: Conn, user_id: str, start: int, end: int, *, team: bool
) -> dict[Literal["user", "team"], int]:
    """Held and settled spend in [start, end): the person's, and the team's when it counts."""
    if team:
        sql = (
            "SELECT COALESCE(SUM(CASE WHEN user_id = ? THEN amount_micros END), 0),"
            " COALESCE(SUM(amount_micros), 0) FROM charges WHERE created_at >= ? AND created_at < ?"
        )
    else:
        sql = (
            "SELECT COALESCE(SUM(amount_micros), 0), 0 FROM charges"
            " WHERE user_id = ? AND created_at >= ? AND created_at < ?"
        )
    (row,) = await read_all(db, sql, (user_id, start, end))
    return {"user": int(row[0]), "team": int(row[1])}


async def _insert_job(db: Conn, job_id: str, new: NewJob, now: int, lease: tuple[str, int]) -> None:
    request = new.request
    await db.execute(
        "INSERT INTO jobs (id, team_id, user_id, channel_id, thread_ts, response_url, kind, origin,"
        " request_json, prompt, inputs_json, parent_job_id, endpoint_id, state, source_key,"
        " created_at, updated_at, model, style, owner, lease_until)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,'held',?,?,?,?,?,?,?)",
        (
            job_id, new.team_id, new.user_id, new.channel_id, new.thread_ts, new.response_url,
            new.kind, new.origin, request.model_dump_json(), request.prompt,
            dump_inputs(new.inputs), new.parent_job_id, new.endpoint_id, new.source_key, now, now,
            request.model, request.style, *lease,
        ),
    )  # fmt: skip
    await db.execute(
        "INSERT INTO charges (job_id, team_id, user_id, channel_id, model, quality, images, status,"
        " estimate_micros, amount_micros, created_at, catalog_model, style)"
        " VALUES (?,?,?,?,?,?,?,'held',?,?,?,?,?)",
        (
            job_id, new.team_id, new.user_id, new.channel_id, new.model, request.quality or "",
            request.n, new.estimate_micros, new.estimate_micros, now, request.model,
            request.style or "",
        ),
    )  # fmt: skip

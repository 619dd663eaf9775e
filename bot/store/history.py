"""The SQL of looking back: what a request sent to fal (kept at submit, for Details), a
person's latest requests (History, optionally by words of their prompts) and their latest
results that are in Slack (App Home's thumbnails). Only one person's rows are ever read.

Portable SQL: LIKE on LOWER() with an explicit ESCAPE, no SQLite-only functions.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bot.store.job_steps import _SELECT_JOB
from bot.store.records import Job, job_from_row
from bot.store.sql import Conn, read_all

# An input inlined as a data URI (a file from Slack) is megabytes: it is kept as its type and
# size, which is what a person reading the details can use.
_DATA_URI = re.compile(r"data:([\w.+/-]*)(;base64)?,")
_KEEP_DATA_CHARS = 200


def kept_arguments(arguments: dict[str, Any]) -> str:
    """The arguments as JSON, each data URI longer than a few hundred characters kept as
    `data:<type>;base64,… (N characters)`."""
    return json.dumps(_shortened(arguments), sort_keys=False)


def _shortened(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _shortened(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shortened(item) for item in value]
    if isinstance(value, str) and len(value) > _KEEP_DATA_CHARS:
        match = _DATA_URI.match(value)
        if match is not None:
            return f"{match[0]}… ({len(value):,} characters)"
    return value


async def record_arguments(db: Conn, job_id: str, arguments: str) -> None:
    await db.execute("UPDATE jobs SET fal_arguments_json = ? WHERE id = ?", (arguments, job_id))


async def sent_arguments(db: Conn, job_id: str) -> dict[str, Any] | None:
    """What was sent to fal for the job, or None (not sent yet, or sent before this was kept)."""
    rows = await read_all(db, "SELECT fal_arguments_json FROM jobs WHERE id = ?", (job_id,))
    if not rows or rows[0]["fal_arguments_json"] is None:
        return None
    found = json.loads(rows[0]["fal_arguments_json"])
    return found if isinstance(found, dict) else None


def _like(word: str) -> str:
    escaped = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def requests_of(db: Conn, user_id: str, words: list[str], limit: int) -> list[Job]:
    """One person's latest requests, newest first, those whose prompt has every word."""
    where = ["j.user_id = ?"]
    args: list[Any] = [user_id]
    for word in words:
        where.append("LOWER(j.prompt) LIKE ? ESCAPE '\\'")
        args.append(_like(word))
    rows = await read_all(
        db,
        f"{_SELECT_JOB} WHERE {' AND '.join(where)} ORDER BY j.created_at DESC, j.id DESC LIMIT ?",
        (*args, limit),
    )
    return [job_from_row(row) for row in rows]


async def results_of(db: Conn, user_id: str, limit: int) -> list[Job]:
    """One person's latest delivered results whose files are in Slack, newest first."""
    rows = await read_all(
        db,
        f"{_SELECT_JOB} WHERE j.user_id = ? AND j.state = 'delivered'"
        " AND j.slack_files_json != '[]' ORDER BY j.finished_at DESC, j.id DESC LIMIT ?",
        (user_id, limit),
    )
    return [job_from_row(row) for row in rows]

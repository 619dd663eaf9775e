"""Reading from SQLite through aiosqlite without leaving a statement open."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite


async def read_all(db: aiosqlite.Connection, sql: str, args: Sequence[Any]) -> list[sqlite3.Row]:
    """Run a query and read every row in one step on the connection's thread.

    A statement left open between two awaits keeps its connection's read snapshot open, and
    another read interleaved on the same connection would see that old snapshot instead of
    what the writer has committed since; one step per query leaves no statement open.
    """
    rows = await db.execute_fetchall(sql, args)
    return list(rows)

"""`imagebot db copy`: every row of one imagebot database written into another, empty one
(SQLite to PostgreSQL when a team moves to replicas, or back). Both are migrated first, so
they share a schema; the columns both have are copied, in the order the rows were written."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from bot.store.sql import Conn

# Parents before children (charges name their job).
TABLES = ("jobs", "charges", "budgets", "seen_events", "notices", "people")
# PostgreSQL's stand-in for SQLite's rowid is its own to number (in the order rows arrive).
_NOT_COPIED = {"rowid"}

Writer = Callable[[], AbstractAsyncContextManager[Conn]]


class CopyRefused(Exception):
    """The destination already holds data; one line saying so."""


async def columns(db: Conn, table: str) -> list[str]:
    if db.dialect == "sqlite":
        rows = await db.fetch(f"SELECT name FROM pragma_table_info('{table}')")
    else:
        rows = await db.fetch(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
    return [str(row[0]) for row in rows if row[0] not in _NOT_COPIED]


async def copy_all(source: Conn, destination: Conn, write: Writer) -> dict[str, int]:
    """Copy every table in one transaction on the destination; rows copied per table."""
    for table in TABLES:
        if await destination.fetch(f"SELECT 1 FROM {table} LIMIT 1"):
            raise CopyRefused(f"the destination already has {table}; copy into an empty database")
    copied: dict[str, int] = {}
    async with write() as db:
        for table in TABLES:
            copied[table] = await _copy_table(source, db, table)
        if db.dialect == "postgresql":
            # Later charges number on from the copied ones.
            await db.execute(
                "SELECT setval(pg_get_serial_sequence('charges', 'id'),"
                " COALESCE((SELECT MAX(id) FROM charges), 0) + 1, false)"
            )
    return copied


async def _copy_table(source: Conn, destination: Conn, table: str) -> int:
    wanted = await columns(destination, table)
    have = set(await columns(source, table))
    names = [name for name in wanted if name in have]
    listed = ", ".join(names)
    order = " ORDER BY rowid" if table in ("jobs", "charges") else ""
    rows = await source.fetch(f"SELECT {listed} FROM {table}{order}")
    marks = ",".join("?" * len(names))
    await destination.execute_many(
        f"INSERT INTO {table} ({listed}) VALUES ({marks})",
        [tuple(row[at] for at in range(len(names))) for row in rows],
    )
    return len(rows)

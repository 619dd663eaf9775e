"""The two databases behind the store, seen through one small connection: SQLite through
aiosqlite (one file, one machine) and PostgreSQL through psycopg 3 (replicas). The store's SQL
is written once, in SQLite's spelling with `?` placeholders; `Conn` turns it into PostgreSQL's
where the dialects differ (placeholders, INSERT OR IGNORE) and offers the few spellings that
cannot be translated word for word (JSON fields, insertion order, a serialising lock)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal, Protocol

import aiosqlite
import psycopg
from psycopg_pool import AsyncConnectionPool

Dialect = Literal["sqlite", "postgresql"]


class Row(Protocol):
    """A result row, read by column name or position (sqlite3.Row, or PgRow)."""

    def __getitem__(self, key: int | str, /) -> Any: ...


class PgRow(tuple[Any, ...]):
    """A PostgreSQL row that reads like sqlite3.Row. Whole-number NUMERICs (PostgreSQL's SUM
    over BIGINT) come back as int, as SQLite gives them: the store's sums are micro-dollars."""

    names: dict[str, int]

    def __new__(cls, values: Sequence[Any], names: dict[str, int]) -> PgRow:
        row = super().__new__(cls, (_plain(value) for value in values))
        row.names = names
        return row

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(self.names[key] if isinstance(key, str) else key)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


def _pg_rows(cursor: psycopg.AsyncCursor[Any]) -> Any:
    names = {column.name: at for at, column in enumerate(cursor.description or ())}
    return lambda values: PgRow(values, names)


class Conn:
    """A connection: an SQLite one, a PostgreSQL one (inside a transaction), or a PostgreSQL
    pool, of which each statement borrows a connection in autocommit."""

    def __init__(
        self,
        raw: aiosqlite.Connection
        | psycopg.AsyncConnection[Any]
        | AsyncConnectionPool[psycopg.AsyncConnection[Any]],
    ):
        self.raw = raw
        self.dialect: Dialect = "sqlite" if isinstance(raw, aiosqlite.Connection) else "postgresql"

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        if isinstance(self.raw, aiosqlite.Connection):
            cursor = await self.raw.execute(sql, args)
            return cursor.rowcount
        async with self._pg() as db:
            pg_cursor = await db.execute(to_postgres(sql).encode(), args)
            return pg_cursor.rowcount

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each of `rows`."""
        if isinstance(self.raw, aiosqlite.Connection):
            await self.raw.executemany(sql, rows)
            return
        async with self._pg() as db:
            await db.cursor().executemany(to_postgres(sql).encode(), rows)

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        """Run a query and read every row in one step (see read_all)."""
        if isinstance(self.raw, aiosqlite.Connection):
            return list(await self.raw.execute_fetchall(sql, args))
        async with self._pg() as db:
            cursor = db.cursor(row_factory=_pg_rows)
            await cursor.execute(to_postgres(sql).encode(), args)
            return list(await cursor.fetchall())

    @asynccontextmanager
    async def _pg(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        if isinstance(self.raw, AsyncConnectionPool):
            async with self.raw.connection() as db:
                yield db
        else:
            assert isinstance(self.raw, psycopg.AsyncConnection)
            yield self.raw

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        """A PostgreSQL transaction on a connection of the pool."""
        assert isinstance(self.raw, AsyncConnectionPool)
        async with self.raw.connection() as db, db.transaction():
            yield Conn(db)

    async def close(self) -> None:
        await self.raw.close()

    async def serialise(self, key: str) -> None:
        """Hold `key` until the transaction ends, so that writers of one key (a person's
        budget, the team's) take turns across replicas. SQLite's BEGIN IMMEDIATE already
        lets one writer at a time in."""
        if self.dialect == "postgresql":
            await self.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (key,))

    def json_with(self, column: str) -> str:
        """SQL for a JSON document kept in a TEXT column with one top-level field set; takes
        two parameters, the field's name and its (text) value."""
        if self.dialect == "sqlite":
            return f"json_set({column}, '$.' || ?, ?)"
        return f"jsonb_set({column}::jsonb, ARRAY[?::text], to_jsonb(?::text))::text"

    def json_text(self, column: str, key: str) -> str:
        """SQL for a top-level text field of a JSON document kept in a TEXT column."""
        if self.dialect == "sqlite":
            return f"json_extract({column}, '$.{key}')"
        return f"({column}::json ->> '{key}')"


async def read_all(db: Conn, sql: str, args: Sequence[Any]) -> list[Row]:
    """Run a query and read every row in one step.

    A statement left open between two awaits keeps its connection's read snapshot open, and
    another read interleaved on the same connection would see that old snapshot instead of
    what the writer has committed since; one step per query leaves no statement open.
    """
    return await db.fetch(sql, args)


_IGNORE = re.compile(r"^\s*INSERT OR IGNORE INTO", re.IGNORECASE)


@lru_cache(maxsize=512)
def to_postgres(sql: str) -> str:
    """SQLite's spelling of a statement in PostgreSQL's: `%s` placeholders, ON CONFLICT DO
    NOTHING for INSERT OR IGNORE. The store's SQL has no `?` or `%` inside literals."""
    text = sql.replace("%", "%%").replace("?", "%s")
    if _IGNORE.match(text):
        text = _IGNORE.sub("INSERT INTO", text) + " ON CONFLICT DO NOTHING"
    return text

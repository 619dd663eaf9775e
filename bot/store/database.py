"""The SQLite file behind the store: one writer connection that does every write inside
`BEGIN IMMEDIATE` behind an asyncio lock, a reader connection beside it (WAL lets reads run
while a write is open), and a start that refuses a file that is not imagebot's."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Self

import aiosqlite

from bot.domain.clock import Clock, system_clock
from bot.store.records import to_ms
from bot.store.schema import connect, migrate
from bot.store.sql import read_all


class StoreError(Exception):
    """The database cannot be used: not SQLite, not imagebot's, unreadable. One line."""


class Database:
    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection, clock: Clock):
        self._writer = writer
        self._reader = reader
        self._lock = asyncio.Lock()
        self.clock = clock

    @classmethod
    async def open(
        cls, path: Path | str, *, clock: Clock = system_clock, create: bool = True
    ) -> Self:
        """Open (and migrate) the database; with `create=False` only an existing imagebot
        database is opened, and an empty file is left as it is. Raises StoreError."""
        path = Path(path)
        try:
            if not create:
                _check_existing(path)
            elif str(path) != ":memory:":
                path.parent.mkdir(parents=True, exist_ok=True)
            writer = await connect(path)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(_problem(path, exc)) from None
        try:
            await migrate(writer)
            reader = await connect(path)
        except BaseException as exc:
            await writer.close()
            if isinstance(exc, OSError | sqlite3.Error | RuntimeError):
                raise StoreError(_problem(path, exc)) from None
            raise
        return cls(writer, reader, clock)

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                await self._writer.rollback()
                raise
            await self._writer.commit()

    async def _one(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self._all(sql, args)
        return rows[0] if rows else None

    async def _all(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return await read_all(self._reader, sql, args)

    def _now_ms(self) -> int:
        return to_ms(self.clock())

    async def ping(self) -> bool:
        row = await self._one("SELECT 1")
        return row is not None

    async def _statement(self, sql: str, args: Sequence[Any]) -> bool:
        """One write statement on its own: SQLite makes it atomic without BEGIN/COMMIT, which
        spares two round trips to the database thread. True when it changed one row."""
        async with self._lock:
            cursor = await self._writer.execute(sql, args)
            return cursor.rowcount == 1


def _check_existing(path: Path) -> None:
    """Refuse, without writing to it, a file that holds no imagebot database."""
    if path.stat().st_size == 0:
        raise StoreError(f"{path} is not an imagebot database (the file is empty)")
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        (version,) = db.execute("PRAGMA user_version").fetchone()
    if version == 0:
        raise StoreError(f"{path} is not an imagebot database (it has no imagebot tables)")


def _problem(path: Path, exc: BaseException) -> str:
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
        return f"{path} is not an SQLite database"
    if isinstance(exc, RuntimeError):
        return f"{path}: {exc}"
    if not os.access(path.parent, os.W_OK):
        # A bind-mounted folder owned by someone else, most often (see README, Docker).
        return (
            f"cannot open the database {path}: {path.parent} is not writable by uid {os.getuid()}"
        )
    return f"cannot open the database {path}: {exc}"

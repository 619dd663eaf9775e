"""The database behind the store. SQLite (the default, one process): one writer connection that
does every write inside `BEGIN IMMEDIATE` behind an asyncio lock, a reader connection beside it
(WAL lets reads run while a write is open), and a start that refuses a file that is not
imagebot's. PostgreSQL (replicas): a pool of connections, each write one transaction, and
admission serialised per person and per team with advisory locks (Conn.serialise)."""

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
import psycopg
from psycopg_pool import AsyncConnectionPool

from bot.domain.clock import Clock, system_clock
from bot.store.leases import replica_id
from bot.store.records import to_ms
from bot.store.schema import connect, migrate, migrate_postgres
from bot.store.sql import Conn, Row, read_all

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
# How long a replica holds a job without renewing it: a dead replica's jobs are taken over by
# another within this time.
LEASE_SECONDS = 30.0


def is_postgres(target: Path | str) -> bool:
    return isinstance(target, str) and target.startswith(POSTGRES_SCHEMES)


class StoreError(Exception):
    """The database cannot be used: not SQLite, not imagebot's, unreadable. One line."""


class Database:
    def __init__(
        self, writer: Conn, reader: Conn, clock: Clock, *, lease_seconds: float = LEASE_SECONDS
    ):
        self._writer = writer
        self._reader = reader
        self._lock = asyncio.Lock()
        self.clock = clock
        # Who this process is in job leases, and how long a lease runs unless renewed.
        self.replica = replica_id()
        self.lease_seconds = lease_seconds

    @property
    def dialect(self) -> str:
        return self._writer.dialect

    @classmethod
    async def open(
        cls,
        path: Path | str,
        *,
        clock: Clock = system_clock,
        create: bool = True,
        lease_seconds: float = LEASE_SECONDS,
    ) -> Self:
        """Open (and migrate) the database: a PostgreSQL URL, or an SQLite file. With
        `create=False` only an existing imagebot database is opened, and an empty file is left
        as it is. Raises StoreError."""
        if is_postgres(path):
            return await cls._open_postgres(str(path), clock, lease_seconds)
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
        return cls(Conn(writer), Conn(reader), clock, lease_seconds=lease_seconds)

    @classmethod
    async def _open_postgres(cls, url: str, clock: Clock, lease_seconds: float) -> Self:
        pool = AsyncConnectionPool(
            url, min_size=1, max_size=10,
            kwargs={"autocommit": True}, open=False,
        )  # fmt: skip
        try:
            # One plain connection first: an unreachable server or a refused login is then
            # PostgreSQL's own one-line reason within seconds, not a pool that keeps retrying.
            async with await psycopg.AsyncConnection.connect(
                url, autocommit=True, connect_timeout=10
            ) as db:
                await migrate_postgres(db)
            await pool.open(wait=True, timeout=30)
        except (psycopg.Error, OSError, RuntimeError) as exc:
            await pool.close()
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"cannot open the database {_redacted(url)}: {reason}") from None
        except BaseException:
            await pool.close()
            raise
        both = Conn(pool)
        return cls(both, both, clock, lease_seconds=lease_seconds)

    async def close(self) -> None:
        await self._reader.close()
        if self._writer is not self._reader:
            await self._writer.close()

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[Conn]:
        if self._writer.dialect == "postgresql":
            async with self._writer.transaction() as db:
                yield db
            return
        raw = self._writer.raw
        assert isinstance(raw, aiosqlite.Connection)
        async with self._lock:
            await raw.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                await raw.rollback()
                raise
            await raw.commit()

    async def _one(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        rows = await self._all(sql, args)
        return rows[0] if rows else None

    async def _all(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return await read_all(self._reader, sql, args)

    def _now_ms(self) -> int:
        return to_ms(self.clock())

    async def ping(self) -> bool:
        row = await self._one("SELECT 1")
        return row is not None


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, _, rest = url.partition("://")
    who, at, where = rest.rpartition("@")
    return f"{scheme}://{who.partition(':')[0]}{at}{where}" if at else url


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

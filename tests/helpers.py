"""Helpers for tests that run the bot as a real process, and for reading what it stored (in
the database, and in the Slack stand-in)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.store import Job
from bot.store.schema import MIGRATIONS, _statements
from bot.testing.process import BotProcess, free_port, wait_until
from bot.testing.slack.standin import SlackStandIn

__all__ = [
    "BotProcess",
    "SetClock",
    "UnixClock",
    "card_of",
    "free_port",
    "old_database",
    "query",
    "wait_until",
]


def query(db: Path, sql: str, args: tuple[object, ...] = ()) -> list[sqlite3.Row]:
    """Read the bot's database from outside (WAL lets us while it runs)."""
    with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn:
        conn.row_factory = sqlite3.Row
        return list(conn.execute(sql, args))


def old_database(path: Path, version: int) -> sqlite3.Connection:
    """An SQLite database as an older imagebot left it (schema `version`), open for a test to
    fill; commit and close it before the store opens it."""
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:version]:
        for statement in _statements(script):
            db.execute(statement)
    db.execute(f"PRAGMA user_version = {version}")
    return db


class SetClock:
    """A clock for the bot that stands still until a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class UnixClock:
    """Seconds since the epoch that stand still until a test moves them; `utc` reads the same
    moment as a datetime, for a store."""

    now: float

    def __call__(self) -> float:
        return self.now

    def utc(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


def card_of(slack: SlackStandIn, job: Job) -> str:
    """The job's card as Slack holds it now (JSON, for looking into)."""
    return json.dumps(next(m for m in slack.messages(job.channel_id) if m["ts"] == job.card_ts))

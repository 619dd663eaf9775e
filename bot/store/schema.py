"""The schema as an ordered list of migrations, and how a connection is opened.

SQLite counts the migrations applied in PRAGMA user_version. PostgreSQL counts them in the
table imagebot_schema, and starts from schema 3 in one step (POSTGRES_BASELINE: no PostgreSQL
database predates it); from 4 on every migration is one portable script that runs on both
(on PostgreSQL with INTEGER read as BIGINT, since the store keeps milliseconds in integers).
A migration runs under an advisory lock on PostgreSQL, so replicas starting together take
turns and the second finds nothing left to do."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import aiosqlite
import psycopg

MIGRATIONS: list[str] = [
    # 1: jobs and their one charge each, budgets, delivery dedupe, once-only notices.
    """
    CREATE TABLE jobs (
        id              TEXT PRIMARY KEY,
        team_id         TEXT NOT NULL DEFAULT '',
        user_id         TEXT NOT NULL,
        channel_id      TEXT NOT NULL,
        thread_ts       TEXT,
        card_ts         TEXT,
        response_url    TEXT,
        kind            TEXT NOT NULL,
        origin          TEXT NOT NULL,
        request_json    TEXT NOT NULL,
        prompt          TEXT NOT NULL,
        inputs_json     TEXT NOT NULL DEFAULT '[]',
        parent_job_id   TEXT,
        endpoint_id     TEXT NOT NULL,
        state           TEXT NOT NULL,
        fal_request_id  TEXT,
        fal_status_url  TEXT,
        fal_result_url  TEXT,
        fal_cancel_url  TEXT,
        images_json     TEXT NOT NULL DEFAULT '[]',
        billed_units    TEXT,
        slack_files_json TEXT NOT NULL DEFAULT '[]',
        upload_started  INTEGER NOT NULL DEFAULT 0,
        card_done       INTEGER NOT NULL DEFAULT 0,
        error_kind      TEXT,
        error_message   TEXT,
        source_key      TEXT UNIQUE,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        submitted_at    INTEGER,
        started_at      INTEGER,
        generated_at    INTEGER,
        finished_at     INTEGER
    );
    CREATE INDEX jobs_unfinished ON jobs (created_at)
        WHERE state IN ('held', 'submitted', 'generated') OR card_done = 0;
    CREATE INDEX jobs_thread ON jobs (channel_id, thread_ts, created_at);
    CREATE INDEX jobs_card ON jobs (channel_id, card_ts);
    CREATE INDEX jobs_user ON jobs (user_id, created_at);

    CREATE TABLE charges (
        job_id          TEXT PRIMARY KEY REFERENCES jobs (id),
        team_id         TEXT NOT NULL DEFAULT '',
        user_id         TEXT NOT NULL,
        channel_id      TEXT NOT NULL DEFAULT '',
        model           TEXT NOT NULL,
        quality         TEXT NOT NULL,
        images          INTEGER NOT NULL,
        status          TEXT NOT NULL CHECK (status IN ('held', 'settled', 'released')),
        estimate_micros INTEGER NOT NULL CHECK (estimate_micros >= 0),
        amount_micros   INTEGER NOT NULL CHECK (amount_micros >= 0),
        estimated       INTEGER NOT NULL DEFAULT 0,
        billed_units    TEXT,
        created_at      INTEGER NOT NULL,
        settled_at      INTEGER
    );
    -- Budget checks sum one person's month; the covering column spares a table lookup.
    CREATE INDEX charges_user_month ON charges (user_id, created_at, amount_micros);
    CREATE INDEX charges_month ON charges (created_at, amount_micros);

    CREATE TABLE budgets (
        scope           TEXT NOT NULL CHECK (scope IN ('user', 'default', 'team')),
        subject         TEXT NOT NULL DEFAULT '',
        amount_micros   INTEGER,
        updated_by      TEXT NOT NULL DEFAULT '',
        updated_at      INTEGER NOT NULL,
        PRIMARY KEY (scope, subject)
    );

    CREATE TABLE seen_events (
        key             TEXT PRIMARY KEY,
        expires_at      INTEGER NOT NULL
    );
    CREATE INDEX seen_events_expiry ON seen_events (expires_at);

    CREATE TABLE notices (
        key             TEXT PRIMARY KEY,
        sent_at         INTEGER NOT NULL
    );
    """,
    # 2: what fal did, as fal says it. A submit that may be at fal, a cancel fal was asked
    # for, the endpoint fal billed; charges become ledger lines (a job's own, another request
    # fal billed for a job, one fal billed that no job claims) that reconciliation can settle
    # to fal's figure, keeping the old one.
    """
    ALTER TABLE jobs ADD COLUMN submit_sent_at INTEGER;
    ALTER TABLE jobs ADD COLUMN cancel_requested_at INTEGER;
    ALTER TABLE jobs ADD COLUMN cancel_requested_by TEXT;
    ALTER TABLE jobs ADD COLUMN billed_endpoint TEXT;
    CREATE INDEX jobs_fal_request ON jobs (fal_request_id) WHERE fal_request_id IS NOT NULL;

    CREATE TABLE ledger (
        id              INTEGER PRIMARY KEY,
        job_id          TEXT REFERENCES jobs (id),
        line            TEXT NOT NULL DEFAULT 'job'
                        CHECK (line IN ('job', 'extra_request', 'unattributed')),
        fal_request_id  TEXT,
        team_id         TEXT NOT NULL DEFAULT '',
        user_id         TEXT NOT NULL,
        channel_id      TEXT NOT NULL DEFAULT '',
        model           TEXT NOT NULL,
        quality         TEXT NOT NULL,
        images          INTEGER NOT NULL,
        status          TEXT NOT NULL CHECK (status IN ('held', 'settled', 'released')),
        estimate_micros INTEGER NOT NULL CHECK (estimate_micros >= 0),
        amount_micros   INTEGER NOT NULL CHECK (amount_micros >= 0),
        estimated       INTEGER NOT NULL DEFAULT 0,
        billed_units    TEXT,
        created_at      INTEGER NOT NULL,
        settled_at      INTEGER,
        previous_micros INTEGER,
        reconciled_at   INTEGER
    );
    INSERT INTO ledger (job_id, team_id, user_id, channel_id, model, quality, images, status,
        estimate_micros, amount_micros, estimated, billed_units, created_at, settled_at)
        SELECT job_id, team_id, user_id, channel_id, model, quality, images, status,
        estimate_micros, amount_micros, estimated, billed_units, created_at, settled_at
        FROM charges ORDER BY rowid;
    DROP TABLE charges;
    ALTER TABLE ledger RENAME TO charges;
    CREATE UNIQUE INDEX charges_job ON charges (job_id) WHERE line = 'job';
    CREATE UNIQUE INDEX charges_fal_request ON charges (fal_request_id)
        WHERE fal_request_id IS NOT NULL;
    CREATE INDEX charges_user_month ON charges (user_id, created_at, amount_micros);
    CREATE INDEX charges_month ON charges (created_at, amount_micros);
    """,
    # 3: the names people go by in Slack, so reports made outside Slack can show them.
    """
    CREATE TABLE people (
        user_id         TEXT PRIMARY KEY,
        name            TEXT NOT NULL,
        seen_at         INTEGER NOT NULL
    );
    """,
    # 4: models are a choice. Each job and charge names its catalog model and style (a
    # charge's `model` column keeps the fal endpoint it was billed under); jobs and charges
    # from before ran on GPT Image 2. Which model a workspace or channel uses by default and
    # which models are allowed, and the styles admins define, are settings in rows.
    """
    ALTER TABLE jobs ADD COLUMN model TEXT NOT NULL DEFAULT 'gpt-image-2';
    ALTER TABLE jobs ADD COLUMN style TEXT;
    ALTER TABLE charges ADD COLUMN catalog_model TEXT NOT NULL DEFAULT '';
    ALTER TABLE charges ADD COLUMN style TEXT NOT NULL DEFAULT '';
    UPDATE jobs SET model = 'gpt-image-2';
    UPDATE charges SET catalog_model = 'gpt-image-2' WHERE job_id IS NOT NULL;

    CREATE TABLE model_settings (
        scope           TEXT NOT NULL CHECK (scope IN ('workspace', 'channel', 'deny')),
        subject         TEXT NOT NULL DEFAULT '',
        model           TEXT NOT NULL,
        updated_by      TEXT NOT NULL DEFAULT '',
        updated_at      INTEGER NOT NULL,
        PRIMARY KEY (scope, subject)
    );

    CREATE TABLE styles (
        name            TEXT PRIMARY KEY,
        model           TEXT NOT NULL,
        definition_json TEXT NOT NULL,
        created_by      TEXT NOT NULL,
        created_at      INTEGER NOT NULL
    );
    """,
    # 5: what was sent to fal for a job, as sent (a data URI kept as its type and size), so
    # its requester can see every input in Details.
    """
    ALTER TABLE jobs ADD COLUMN fal_arguments_json TEXT;
    """,
    # 6: replicas. A job is driven by one replica at a time: its `owner` holds it until
    # `lease_until` (renewed while it works; a job with no lease, or an expired one, may be
    # claimed). `slot_at` marks a job counted against the limits of jobs at fal, which all
    # replicas read here. job_transitions says which replica stepped each job, and when.
    """
    ALTER TABLE jobs ADD COLUMN owner TEXT;
    ALTER TABLE jobs ADD COLUMN lease_until INTEGER;
    ALTER TABLE jobs ADD COLUMN slot_at INTEGER;
    UPDATE jobs SET slot_at = COALESCE(submit_sent_at, submitted_at)
        WHERE state IN ('held', 'submitted');
    CREATE INDEX jobs_at_fal ON jobs (user_id)
        WHERE slot_at IS NOT NULL AND state IN ('held', 'submitted');

    CREATE TABLE job_transitions (
        job_id          TEXT NOT NULL,
        step            TEXT NOT NULL,
        replica         TEXT NOT NULL,
        at              INTEGER NOT NULL
    );
    CREATE INDEX job_transitions_job ON job_transitions (job_id, at);
    """,
    # 7: spend reports read the settled charges of a range from an index that holds every
    # column they filter on and add up, so neither backend visits the table row by row.
    """
    CREATE INDEX charges_settled ON charges
        (status, created_at, user_id, channel_id, amount_micros, images, estimated);
    """,
]


async def connect(path: Path) -> aiosqlite.Connection:
    """A connection set up as the store uses it; closed again if that fails (its worker thread
    would otherwise keep the process alive)."""
    db = await aiosqlite.connect(path, isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA busy_timeout = 10000")
        # WAL with NORMAL survives a crashed process; only a power cut can cost the last commits.
        await db.execute("PRAGMA synchronous = NORMAL")
        await db.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        await db.close()
        raise
    return db


async def schema_version(db: aiosqlite.Connection) -> int:
    (row,) = await db.execute_fetchall("PRAGMA user_version")
    return int(row[0])


async def migrate(db: aiosqlite.Connection) -> None:
    await db.execute("BEGIN IMMEDIATE")
    try:
        version = await schema_version(db)
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"the database is from a newer imagebot (schema {version}); upgrade imagebot"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in _statements(script):
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {number}")
    except BaseException:
        await db.rollback()
        raise
    await db.commit()


def _statements(script: str) -> list[str]:
    """Split a script into statements (executescript would commit our transaction)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        if not buffer and (not line.strip() or line.strip().startswith("--")):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise ValueError(f"incomplete SQL statement in a migration: {buffer[:80]!r}")
    return statements


# Schema 3 in PostgreSQL's words. `rowid` stands in for SQLite's implicit one (the store orders
# rows inserted in the same millisecond by it).
POSTGRES_BASELINE = """
CREATE TABLE jobs (
    rowid           BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    id              TEXT PRIMARY KEY,
    team_id         TEXT NOT NULL DEFAULT '',
    user_id         TEXT NOT NULL,
    channel_id      TEXT NOT NULL,
    thread_ts       TEXT,
    card_ts         TEXT,
    response_url    TEXT,
    kind            TEXT NOT NULL,
    origin          TEXT NOT NULL,
    request_json    TEXT NOT NULL,
    prompt          TEXT NOT NULL,
    inputs_json     TEXT NOT NULL DEFAULT '[]',
    parent_job_id   TEXT,
    endpoint_id     TEXT NOT NULL,
    state           TEXT NOT NULL,
    fal_request_id  TEXT,
    fal_status_url  TEXT,
    fal_result_url  TEXT,
    fal_cancel_url  TEXT,
    images_json     TEXT NOT NULL DEFAULT '[]',
    billed_units    TEXT,
    slack_files_json TEXT NOT NULL DEFAULT '[]',
    upload_started  BIGINT NOT NULL DEFAULT 0,
    card_done       BIGINT NOT NULL DEFAULT 0,
    error_kind      TEXT,
    error_message   TEXT,
    source_key      TEXT UNIQUE,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    submitted_at    BIGINT,
    started_at      BIGINT,
    generated_at    BIGINT,
    finished_at     BIGINT,
    submit_sent_at  BIGINT,
    cancel_requested_at BIGINT,
    cancel_requested_by TEXT,
    billed_endpoint TEXT
);
CREATE INDEX jobs_unfinished ON jobs (created_at)
    WHERE state IN ('held', 'submitted', 'generated') OR card_done = 0;
CREATE INDEX jobs_thread ON jobs (channel_id, thread_ts, created_at);
CREATE INDEX jobs_card ON jobs (channel_id, card_ts);
CREATE INDEX jobs_user ON jobs (user_id, created_at);
CREATE INDEX jobs_fal_request ON jobs (fal_request_id) WHERE fal_request_id IS NOT NULL;

CREATE TABLE charges (
    id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    rowid           BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    job_id          TEXT REFERENCES jobs (id),
    line            TEXT NOT NULL DEFAULT 'job'
                    CHECK (line IN ('job', 'extra_request', 'unattributed')),
    fal_request_id  TEXT,
    team_id         TEXT NOT NULL DEFAULT '',
    user_id         TEXT NOT NULL,
    channel_id      TEXT NOT NULL DEFAULT '',
    model           TEXT NOT NULL,
    quality         TEXT NOT NULL,
    images          BIGINT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('held', 'settled', 'released')),
    estimate_micros BIGINT NOT NULL CHECK (estimate_micros >= 0),
    amount_micros   BIGINT NOT NULL CHECK (amount_micros >= 0),
    estimated       BIGINT NOT NULL DEFAULT 0,
    billed_units    TEXT,
    created_at      BIGINT NOT NULL,
    settled_at      BIGINT,
    previous_micros BIGINT,
    reconciled_at   BIGINT
);
CREATE UNIQUE INDEX charges_job ON charges (job_id) WHERE line = 'job';
CREATE UNIQUE INDEX charges_fal_request ON charges (fal_request_id)
    WHERE fal_request_id IS NOT NULL;
CREATE INDEX charges_user_month ON charges (user_id, created_at, amount_micros);
CREATE INDEX charges_month ON charges (created_at, amount_micros);

CREATE TABLE budgets (
    scope           TEXT NOT NULL CHECK (scope IN ('user', 'default', 'team')),
    subject         TEXT NOT NULL DEFAULT '',
    amount_micros   BIGINT,
    updated_by      TEXT NOT NULL DEFAULT '',
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (scope, subject)
);

CREATE TABLE seen_events (
    key             TEXT PRIMARY KEY,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX seen_events_expiry ON seen_events (expires_at);

CREATE TABLE notices (
    key             TEXT PRIMARY KEY,
    sent_at         BIGINT NOT NULL
);

CREATE TABLE people (
    user_id         TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    seen_at         BIGINT NOT NULL
);
"""
POSTGRES_BASELINE_VERSION = 3
# Any number: the key of the advisory lock migrations hold on PostgreSQL.
_MIGRATION_LOCK = 7_412_539_001
_INTEGER = re.compile(r"\bINTEGER\b", re.IGNORECASE)


async def migrate_postgres(db: psycopg.AsyncConnection[Any]) -> None:
    """Bring a PostgreSQL database to the newest schema, one replica at a time."""
    async with db.transaction():
        await db.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        await db.execute("CREATE TABLE IF NOT EXISTS imagebot_schema (version BIGINT NOT NULL)")
        cursor = await db.execute("SELECT version FROM imagebot_schema")
        row = await cursor.fetchone()
        version = 0 if row is None else int(row[0])
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"the database is from a newer imagebot (schema {version}); upgrade imagebot"
            )
        if version == 0:
            for statement in _statements(POSTGRES_BASELINE):
                await db.execute(statement.encode())
            version = POSTGRES_BASELINE_VERSION
        for script in MIGRATIONS[version:]:
            for statement in _statements(script):
                await db.execute(_INTEGER.sub("BIGINT", statement).encode())
        await db.execute("DELETE FROM imagebot_schema")
        await db.execute("INSERT INTO imagebot_schema (version) VALUES (%s)", (len(MIGRATIONS),))

"""The SQLite schema as an ordered list of migrations; PRAGMA user_version counts those applied."""

from __future__ import annotations

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
]

"""PostgreSQL for the tests: the server named by IMAGEBOT_TEST_DATABASE_URL (`.ci/postgres`
starts one and prints its URL), and a fresh database on it for each test that asks. Without
it the tests that need it skip, saying why; in CI (CI set) its absence is a failure."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

SERVER_URL = os.environ.get("IMAGEBOT_TEST_DATABASE_URL", "")


def server_url() -> str:
    """The test server's URL, or skip (fail in CI) when there is none."""
    if SERVER_URL:
        return SERVER_URL
    why = (
        "PostgreSQL is not available: set IMAGEBOT_TEST_DATABASE_URL to a server the tests may"
        " create databases on (bash .ci/postgres installs and starts one, and prints the URL)"
    )
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new empty database on the test server, dropped afterwards; its URL."""
    server = server_url()
    name = "imagebot_" + secrets.token_hex(6)
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}".encode())
    try:
        yield server.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())

"""The store's tests run on both backends: `target` is an SQLite file or a fresh PostgreSQL
database (skipped, with the reason, where PostgreSQL is not available)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import fresh_database


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    if request.param == "sqlite":
        yield tmp_path / "imagebot.db"
        return
    with fresh_database() as url:
        yield url

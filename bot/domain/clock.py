"""The one clock of product time: deadlines, budget months, report periods, notices, retention.

Whatever dates something a person or the ledger sees reads a `Clock` handed down from the
start (`system_clock` when the bot runs), so a test that fixes the date fixes it everywhere.
Intervals that only pace the bot itself (card throttles, poll delays, caches) use
`time.monotonic`, which no date can upset.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Now, timezone-aware in UTC."""
    return datetime.now(UTC)

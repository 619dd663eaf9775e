"""A spend report as data: a period's settled spend rows (bot.store.ledger) with their sums, the
people who spent most and the busiest groups. Reports in Slack, CSV and the terminal all read
it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from bot.domain.periods import Period
from bot.store.ledger import GROUPINGS, SpendRow

TOP_SPENDERS = 5
TOP_GROUPS = 10


@dataclass(frozen=True)
class Total:
    """Sums over the rows of one person or one group."""

    key: str
    jobs: int
    images: int
    spend_micros: int


@dataclass(frozen=True)
class Report:
    """Settled spend of a period grouped one way, with the names people go by."""

    period: Period
    by: str
    rows: list[SpendRow]
    names: Mapping[str, str]
    held_micros: int = 0

    def __post_init__(self) -> None:
        if self.by not in GROUPINGS:
            raise ValueError(f"cannot report spend by {self.by!r}; use {', '.join(GROUPINGS)}")

    @property
    def spend_micros(self) -> int:
        return sum(row.spend_micros for row in self.rows)

    @property
    def billed_micros(self) -> int:
        return sum(row.billed_micros for row in self.rows)

    @property
    def estimated_micros(self) -> int:
        return sum(row.estimated_micros for row in self.rows)

    @property
    def jobs(self) -> int:
        return sum(row.jobs for row in self.rows)

    @property
    def images(self) -> int:
        return sum(row.images for row in self.rows)

    def name(self, user_id: str) -> str:
        return self.names.get(user_id, "")

    def named(self, names: Mapping[str, str]) -> Report:
        """The same report with the names people go by."""
        return replace(self, names=names)

    def top_spenders(self, limit: int | None = TOP_SPENDERS) -> list[Total]:
        """People by their spend across all groups, largest first."""
        return _totals(self.rows, lambda row: row.user_id)[:limit]

    def top_groups(self, limit: int | None = TOP_GROUPS) -> list[Total]:
        """Groups (days, channels, ...) by their spend across people, largest first."""
        return _totals(self.rows, lambda row: row.group)[:limit]


def _totals(rows: Sequence[SpendRow], key: Callable[[SpendRow], str]) -> list[Total]:
    sums: dict[str, tuple[int, int, int]] = {}
    for row in rows:
        jobs, images, spend = sums.get(key(row), (0, 0, 0))
        sums[key(row)] = (jobs + row.jobs, images + row.images, spend + row.spend_micros)
    totals = [Total(k, jobs, images, spend) for k, (jobs, images, spend) in sums.items()]
    return sorted(totals, key=lambda total: (-total.spend_micros, total.key))

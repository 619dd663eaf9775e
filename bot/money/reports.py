"""Spend reports as people see them: Slack blocks, a CSV file, a text table and a daily chart.

Pure functions over the ledger's rows (the SQL lives in bot.store.ledger). Amounts stay whole
micro-dollars until they are written out: exact decimals in the CSV, format_usd elsewhere.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from bot.domain.periods import Period
from bot.domain.usd import format_usd, to_usd
from bot.slack.blockkit import Block, context, escape, fields, header, message_blocks, text_blocks
from bot.store.ledger import GROUPINGS, SpendRow
from bot.store.reconciliation import UNATTRIBUTED

TOP_SPENDERS = 5
TOP_GROUPS = 10
_CSV_GROUP_COLUMNS = {"day": "day", "channel": "channel_id", "model": "model", "quality": "quality"}
_GROUP_TITLES = {
    "day": "Busiest days",
    "channel": "Top channels",
    "model": "By model",
    "quality": "By quality",
}
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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


# --- Slack ---------------------------------------------------------------------------------


def report_blocks(report: Report) -> list[Block]:
    """The report as a Slack message: totals, who spent most, and the grouping's top lines."""
    blocks: list[Block] = [
        header(f"Image spend: {report.period.label}"),
        fields(
            [
                ("Total spend", format_usd(report.spend_micros)),
                ("Jobs", f"{report.jobs:,}"),
                ("Images", f"{report.images:,}"),
                ("Billed by fal", format_usd(report.billed_micros)),
                ("Estimated", format_usd(report.estimated_micros)),
            ]
        ),
    ]
    notes = []
    if report.estimated_micros:
        notes.append("Estimated: fal reported no billable units, so the estimate was charged.")
    if report.held_micros:
        notes.append(
            f":hourglass_flowing_sand: {format_usd(report.held_micros)} is held by running"
            " jobs and not in the total yet."
        )
    if notes:
        blocks.append(context(" ".join(notes)))
    if not report.rows:
        blocks += text_blocks("No settled spend in this period.")
    else:
        blocks += text_blocks(_spenders_text(report))
        if report.by != "user":
            blocks += text_blocks(_groups_text(report))
    blocks.append(context("Add `--csv` to get every row as a CSV file in your DM."))
    return message_blocks(blocks)


def _spenders_text(report: Report) -> str:
    everyone = report.top_spenders(limit=None)
    lines = ["*Top spenders*"]
    lines += [
        f"{rank}. {_person(total.key)} {_summary(total)}"
        for rank, total in enumerate(everyone[:TOP_SPENDERS], start=1)
    ]
    lines += _more(len(everyone) - TOP_SPENDERS, "person", "people")
    return "\n".join(lines)


def _groups_text(report: Report) -> str:
    everyone = report.top_groups(limit=None)
    lines = [f"*{_GROUP_TITLES[report.by]}*"]
    lines += [f"{_group_label(report.by, t.key)} {_summary(t)}" for t in everyone[:TOP_GROUPS]]
    noun = {"day": ("day", "days"), "channel": ("channel", "channels")}.get(
        report.by, ("other", "others")
    )
    lines += _more(len(everyone) - TOP_GROUPS, *noun)
    return "\n".join(lines)


def _person(user_id: str) -> str:
    """A person's mention; fal requests no job claims (booked by reconciliation) as a label."""
    return "_unattributed (fal billed, no job)_" if user_id == UNATTRIBUTED else f"<@{user_id}>"


def _group_label(by: str, key: str) -> str:
    if by == "channel":
        return f"<#{key}>"
    if by == "day":
        return f"`{date.fromisoformat(key):%a %Y-%m-%d}`"
    return f"`{escape(key)}`"


def _summary(total: Total) -> str:
    jobs = "1 job" if total.jobs == 1 else f"{total.jobs:,} jobs"
    images = "1 image" if total.images == 1 else f"{total.images:,} images"
    return f"*{format_usd(total.spend_micros)}* · {jobs} · {images}"


def _more(count: int, one: str, many: str) -> list[str]:
    if count <= 0:
        return []
    return [f"…and {count:,} more {one if count == 1 else many}"]


# --- CSV and text ----------------------------------------------------------------------------


def report_csv(report: Report) -> bytes:
    """Every row as UTF-8 CSV with a header; dollars as exact decimals (0.1263, 1.50)."""
    group_column = _CSV_GROUP_COLUMNS.get(report.by)
    grouped = [group_column] if group_column else []
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "user_id", "user_name", *grouped,
            "jobs", "images", "spend_usd", "billed_usd", "estimated_usd",
        ]
    )  # fmt: skip
    for row in report.rows:
        group = [_cell(row.group)] if group_column else []
        writer.writerow(
            [
                _cell(row.user_id), _cell(report.name(row.user_id)), *group,
                row.jobs, row.images, usd_text(row.spend_micros), usd_text(row.billed_micros),
                usd_text(row.estimated_micros),
            ]
        )  # fmt: skip
    return out.getvalue().encode("utf-8")


def usd_text(micros: int) -> str:
    """Exact dollars without a sign: all significant decimals, at least two (1.50, 0.1263)."""
    whole, _, fraction = f"{to_usd(micros):f}".partition(".")
    return f"{whole}.{fraction.rstrip('0').ljust(2, '0')}"


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def report_table(report: Report) -> str:
    """The report for a terminal: a summary line, then one aligned line per row."""
    lines = [
        f"Image spend: {report.period.label} (by {report.by})",
        f"Total {format_usd(report.spend_micros)} · {report.jobs:,} jobs · "
        f"{report.images:,} images · billed by fal {format_usd(report.billed_micros)} · "
        f"estimated {format_usd(report.estimated_micros)}",
    ]
    if report.held_micros:
        lines.append(f"Held by running jobs: {format_usd(report.held_micros)}")
    if not report.rows:
        return "\n".join([*lines, "", "No settled spend in this period."]) + "\n"
    group_column = _CSV_GROUP_COLUMNS.get(report.by)
    header = ["user", "name", *([group_column] if group_column else [])]
    header += ["jobs", "images", "spend", "billed", "estimated"]
    table = [header]
    for row in report.rows:
        cells = [row.user_id, report.name(row.user_id)]
        cells += [row.group] if group_column else []
        cells += [f"{row.jobs:,}", f"{row.images:,}", format_usd(row.spend_micros)]
        cells += [format_usd(row.billed_micros), format_usd(row.estimated_micros)]
        table.append(cells)
    return "\n".join([*lines, "", *_aligned(table, numeric_from=len(header) - 5)]) + "\n"


def _aligned(table: list[list[str]], numeric_from: int) -> list[str]:
    """Text columns left-aligned, numbers right-aligned, two spaces between columns."""
    widths = [max(len(row[column]) for row in table) for column in range(len(table[0]))]
    return [
        "  ".join(
            cell.rjust(width) if column >= numeric_from else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in table
    ]


# --- chart -----------------------------------------------------------------------------------


def spend_chart_png(days: Sequence[tuple[date, int]], title: str) -> bytes:
    """A bar chart of spend per day, 800x300 px PNG.

    Only the object API (a Figure with its own Agg canvas), never pyplot's global state, so
    reports can be drawn in worker threads at once.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    figure = Figure(figsize=(8, 3), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    # Drawing needs floats; the exact amounts live in the ledger and the CSV.
    dollars = [float(to_usd(micros)) for _, micros in days]
    axes.bar(range(len(days)), dollars, width=0.8, color="#3f6fb5")
    # About a dozen date labels, whatever the length of the range, so they never overlap.
    every = max(1, -(-len(days) // 12))
    ticks = list(range(0, len(days), every))
    axes.set_xticks(ticks, [f"{days[i][0]:%b %d}" for i in ticks])
    # A quiet month spends cents a day: keep its ticks apart ($0.0025, not $0.00 five times).
    places = 2 if max(dollars, default=0) >= 0.1 else 4
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"${value:,.{places}f}"))
    axes.set_ylim(bottom=0)
    axes.set_title(title)
    axes.set_xlabel("Day")
    axes.set_ylabel("Spend (USD)")
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()

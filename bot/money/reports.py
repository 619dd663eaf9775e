"""Spend reports outside Slack: a CSV file, a text table for the terminal, and a daily chart.

Pure functions over a Report (bot.store.report). Amounts stay whole micro-dollars until they are
written out: exact decimals in the CSV, format_usd elsewhere.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date

from bot.domain.usd import format_usd, to_usd
from bot.store.report import Report

_CSV_GROUP_COLUMNS = {
    "day": "day",
    "channel": "channel_id",
    "model": "model",
    "style": "style",
    "quality": "quality",
}
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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

"""Spend reports as people see them: exact CSV dollars, Block Kit within limits, table, chart."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from bench.report_bench import run as run_bench
from bot.domain.periods import month_of
from bot.money.reports import report_csv, report_table, spend_chart_png, usd_text
from bot.slack.views.reports import report_blocks
from bot.store import Store
from bot.store.ledger import SpendRow, spend_rows
from bot.store.records import to_ms
from bot.store.report import Report, Total
from bot.store.schema import connect
from bot.store.sql import Conn
from tests.factories import charged, new_job, spend_row

ZONE = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
MONTH = month_of(NOW, ZONE)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def report(rows: list[SpendRow], by: str = "user", **names: str) -> Report:
    return Report(MONTH, by, rows, names)


def parse(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "x.db", clock=lambda: NOW)
    yield opened
    await opened.close()


async def settle(store: Store, user: str, cost_micros: int) -> None:
    await charged(store, new_job(user), cost_micros, request_id="req", month=MONTH.bounds())


async def test_csv_dollars_are_exact_sums_of_settled_charges(store: Store, tmp_path: Path) -> None:
    for _ in range(3):
        await settle(store, "UA", 42_100)
    for _ in range(2):
        await settle(store, "UB", 42_100)
    db = Conn(await connect(tmp_path / "x.db"))
    try:
        rows = await spend_rows(db, to_ms(MONTH.start), to_ms(MONTH.end), "user", ZONE)
    finally:
        await db.close()
    parsed = parse(report_csv(Report(MONTH, "user", rows, {"UA": "Ann"})))
    spend = {line["user_id"]: Decimal(line["spend_usd"]) for line in parsed}
    assert spend == {"UA": Decimal("0.1263"), "UB": Decimal("0.0842")}
    assert [line["spend_usd"] for line in parsed] == ["0.1263", "0.0842"]
    assert [line["user_name"] for line in parsed] == ["Ann", ""]
    assert [line["billed_usd"] for line in parsed] == ["0.1263", "0.0842"]
    assert [line["estimated_usd"] for line in parsed] == ["0.00", "0.00"]


@pytest.mark.parametrize(
    ("micros", "text"),
    [(0, "0.00"), (1, "0.000001"), (1_500_000, "1.50"), (126_300, "0.1263"),
     (123_456_789_012, "123456.789012"), (20_000_000, "20.00")],
)  # fmt: skip
def test_usd_text_is_exact_with_at_least_two_decimals(micros: int, text: str) -> None:
    assert usd_text(micros) == text
    assert Decimal(text) * 1_000_000 == micros


@pytest.mark.parametrize(
    ("by", "column"),
    [("user", None), ("day", "day"), ("channel", "channel_id"), ("model", "model"),
     ("quality", "quality")],
)  # fmt: skip
def test_csv_header_names_the_grouping(by: str, column: str | None) -> None:
    data = report_csv(report([spend_row("UA", 1_000, "G1", estimated=400)], by))
    header, first = data.decode().splitlines()[:2]
    grouping = [column] if column else []
    assert header.split(",") == [
        "user_id", "user_name", *grouping,
        "jobs", "images", "spend_usd", "billed_usd", "estimated_usd",
    ]  # fmt: skip
    values = ["UA", "", *(["G1"] if column else []), "1", "2", "0.001", "0.0006", "0.0004"]
    assert first.split(",") == values


def test_csv_defuses_names_a_spreadsheet_would_run() -> None:
    names = {"U1": '=HYPERLINK("x")', "U2": "+1", "U3": "-2", "U4": "@SUM(A1)", "U5": "Zoë, Q"}
    rows = [spend_row(user, 1_000) for user in names]
    parsed = parse(report_csv(report(rows, **names)))
    assert [line["user_name"] for line in parsed] == [
        "'=HYPERLINK(\"x\")", "'+1", "'-2", "'@SUM(A1)", "Zoë, Q",
    ]  # fmt: skip


def test_report_totals_and_top_spenders_across_groups() -> None:
    rows = [
        SpendRow("UA", "C1", 2, 3, 5_000, 4_000, 1_000),
        SpendRow("UB", "C1", 1, 1, 4_000, 4_000, 0),
        SpendRow("UA", "C2", 1, 4, 2_000, 2_000, 0),
    ]
    made = Report(MONTH, "channel", rows, {}, held_micros=60_000)
    assert (made.spend_micros, made.billed_micros, made.estimated_micros) == (11_000, 10_000, 1_000)
    assert (made.jobs, made.images) == (4, 8)
    assert made.top_spenders() == [Total("UA", 3, 7, 7_000), Total("UB", 1, 1, 4_000)]
    assert made.top_groups(limit=1) == [Total("C1", 3, 4, 9_000)]
    with pytest.raises(ValueError, match="report spend by"):
        Report(MONTH, "team", rows, {})


def _texts(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def _check_limits(blocks: list[dict[str, Any]]) -> None:
    assert len(blocks) <= 50
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert "text" in block or "fields" in block
            assert len(block.get("text", {}).get("text", "")) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(len(field["text"]) <= 2000 for field in block.get("fields", []))
        if block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10


def test_blocks_show_totals_split_held_and_top_spenders() -> None:
    rows = [spend_row(f"U{n}", 10_000 * n, estimated=1_000) for n in range(7, 0, -1)]
    blocks = report_blocks(Report(MONTH, "user", rows, {}, held_micros=420_000))
    _check_limits(blocks)
    text = _texts(blocks)
    assert blocks[0]["type"] == "header" and MONTH.label in blocks[0]["text"]["text"]
    assert "$0.28" in text  # total 280,000 micros
    assert "*Billed by fal*\\n$0.273" in text and "*Estimated*\\n$0.007" in text
    assert "$0.42" in text and "held by running jobs" in text
    for user in ("U7", "U6", "U5", "U4", "U3"):
        assert f"<@{user}>" in text
    assert "<@U2>" not in text and "2 more people" in text
    assert "--csv" in text


@pytest.mark.parametrize("by", ["user", "channel", "model"])
def test_blocks_stay_within_limits_with_100_people(by: str) -> None:
    groups = 1 if by == "user" else 40
    rows = [
        spend_row(f"U{n:03d}", 1_000 + n * 17 + g, f"C{g:02d}" if by != "user" else None)
        for n in range(100)
        for g in range(groups)
    ]
    blocks = report_blocks(report(rows, by))
    _check_limits(blocks)
    text = _texts(blocks)
    assert text.count("<@U") == 5 and "95 more people" in text
    if by == "channel":
        assert "<#C39>" in text and "30 more channels" in text


def test_blocks_for_days_and_an_empty_period() -> None:
    rows = [spend_row("UA", 2_000, "2026-11-02"), spend_row("UA", 1_000, "2026-11-01")]
    text = _texts(report_blocks(report(rows, "day")))
    assert text.index("Mon 2026-11-02") < text.index("Sun 2026-11-01")
    empty = report_blocks(report([], "model"))
    _check_limits(empty)
    assert "No settled spend" in _texts(empty)


def test_table_lines_up_names_groups_and_money() -> None:
    rows = [spend_row("UA", 126_300, "C1"), spend_row("UBB", 84_200, "C22")]
    table = report_table(Report(MONTH, "channel", rows, {"UA": "Ann"}, held_micros=60_000))
    lines = table.splitlines()
    assert lines[0] == f"Image spend: {MONTH.label} (by channel)"
    assert "Total $0.2105" in lines[1] and "Held by running jobs: $0.06" in lines[2]
    header, first, second = lines[-3:]
    assert header.split() == [
        "user", "name", "channel_id", "jobs", "images", "spend", "billed", "estimated",
    ]  # fmt: skip
    assert first.split() == ["UA", "Ann", "C1", "1", "2", "$0.1263", "$0.1263", "$0.00"]
    assert len(first) == len(second) == len(header)
    assert "No settled spend" in report_table(report([]))


def test_chart_is_a_png_of_the_expected_size() -> None:
    days = [(date(2026, 11, 1) + timedelta(days=n), n * 12_345) for n in range(30)]
    data = spend_chart_png(days, "Spend per day, November 2026")
    assert data.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG" and image.size == (800, 300)


def test_charts_draw_in_worker_threads_at_once() -> None:
    days = [(date(2026, 11, 1) + timedelta(days=n), 1_000) for n in range(5)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        charts = list(pool.map(lambda n: spend_chart_png(days[:n], f"chart {n}"), range(6)))
    assert all(chart.startswith(PNG_SIGNATURE) for chart in charts)


def test_benchmark_runs_on_a_small_database() -> None:
    figures = run_bench(charges=2_000)
    assert [figure["figure"] for figure in figures][:4] == [
        "spend_rows by=user, 30 days",
        "spend_rows by=day, 30 days",
        "spend_rows by=channel, 30 days",
        "usage of one user, 30 days",
    ]
    for figure in figures:
        assert figure["charges"] == 2_000 and figure["measured_s"] > 0

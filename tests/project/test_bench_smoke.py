"""The benchmark harness, run with tiny numbers so it cannot rot (`python -m bench` runs the
real sizes; the figures here say nothing about the targets)."""

from __future__ import annotations

import pytest

from bench.run import QUICK, run, table
from bot.testing.fal.standin import FalStandIn

pytestmark = pytest.mark.slow


async def test_every_benchmark_runs_and_reports_a_figure(fal: FalStandIn) -> None:
    figures = await run(quick=True, fal=fal)

    names = " ".join(f.name for f in figures)
    for word in (
        "ack",
        "overhead",
        "status requests",
        "resident memory",
        "spend report",
        "admission",
        "same instant",
        "2 processes on PostgreSQL",
        "two replicas",
    ):
        assert word in names, word
    assert len(figures) >= len(QUICK)
    assert all(f.measured and f.target for f in figures)
    rendered = table(figures)
    assert rendered.count("\n") == len(figures) + 1

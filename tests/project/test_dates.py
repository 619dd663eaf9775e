"""No test depends on today's date: the tests that date things pass with the machine's clock
moved to 2036, in the test process and in every process it starts."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent
FAR = datetime(2036, 6, 15, 12, tzinfo=UTC)
SHIFT = "TESTS_REAL_CLOCK_SHIFT"
# Every test module that dates jobs, charges, months, notices or reports, and the restart test
# whose deadline is measured across two processes.
DATED = [
    "tests/project/test_dates.py",
    "tests/domain/test_periods.py",
    "tests/e2e/test_spend.py",
    "tests/e2e/test_notices.py",
    "tests/store/test_store.py",
    "tests/store/test_store_properties.py",
    "tests/store/test_ledger.py",
    "tests/money/test_reports.py",
    "tests/store/test_retention.py",
    "tests/e2e/test_deadline.py",
    "tests/e2e/test_demo.py",
    "tests/e2e/test_restart.py::test_a_job_that_finished_while_the_bot_was_down_is_delivered_after_its_deadline",
]


def shifted_env() -> dict[str, str]:
    path = os.pathsep.join(
        p for p in (str(ROOT / "tests" / "realclock"), os.environ.get("PYTHONPATH")) if p
    )
    seconds = (FAR - datetime.now(UTC)).total_seconds()
    return {**os.environ, SHIFT: f"{seconds:.3f}", "PYTHONPATH": path}


@pytest.mark.skipif(SHIFT not in os.environ, reason="only in the far-future run")
def test_this_process_and_its_children_are_in_the_far_future() -> None:
    assert datetime.now(UTC).year == FAR.year
    child = subprocess.run(
        [sys.executable, "-c", "import datetime; print(datetime.date.today().year)"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert child.stdout.strip() == str(FAR.year)


@pytest.mark.slow
@pytest.mark.skipif(SHIFT in os.environ, reason="already the far-future run")
def test_the_dated_tests_pass_in_2036() -> None:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *DATED]
    done = subprocess.run(
        command, cwd=ROOT, env=shifted_env(), capture_output=True, text=True, timeout=1500
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and " failed" not in done.stdout
    assert "in the far-future run" not in done.stdout  # the check above ran, not skipped

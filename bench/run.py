"""Every benchmark in one run: `python -m bench` prints a table (figure, target, measured,
pass or fail) and writes it to bench/results.md with the machine it ran on.

`--quick` runs each with tiny numbers (the test suite does, so the harness cannot rot); its
figures say nothing about the targets.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import load, replicas, report_bench, status, store_bench
from bench.rig import Figure, fal_standin
from bot.testing.fal.standin import FalStandIn

RESULTS = Path(__file__).with_name("results.md")

FULL: dict[str, dict[str, Any]] = {
    "ack": {"rate": 50, "seconds": 30},
    "overhead": {"jobs": 100, "in_flight": 20, "run_seconds": 2.0},
    "burst": {"jobs": 20, "run_seconds": 5.0},
    "status": {"jobs": 10, "run_seconds": 20.0},
    "memory": {"jobs": 500, "run_seconds": 30.0},
    "report": {"charges": 200_000},
    "admission": {"holds": 2_000, "concurrent": 100},
    "replica_admission": {"count": 1_000, "concurrent": 20},
    "replica_ack": {"rate": 200, "seconds": 10},
}
QUICK: dict[str, dict[str, Any]] = {
    "ack": {"rate": 20, "seconds": 1},
    "overhead": {"jobs": 4, "in_flight": 2, "run_seconds": 0.3},
    "burst": {"jobs": 3, "run_seconds": 0.3},
    "status": {"jobs": 2, "run_seconds": 1.0},
    "memory": {"jobs": 6, "run_seconds": 1.0},
    "report": {"charges": 2_000},
    "admission": {"holds": 100, "concurrent": 20},
    "replica_admission": {"count": 20, "concurrent": 4},
    "replica_ack": {"rate": 20, "seconds": 1},
}


async def report_figures(charges: int) -> list[Figure]:
    found = await asyncio.to_thread(report_bench.run, charges)
    return [
        Figure(
            f"spend report, {f['figure']}",
            "< 100 ms over 200,000 charges",
            f"{f['measured_s'] * 1000:.0f} ms",
            bool(f["passed"]),
            f"{f['charges']:,} charges",
        )
        for f in found
    ]


def benchmarks(fal: FalStandIn) -> dict[str, Callable[..., Awaitable[list[Figure]]]]:
    return {
        "ack": lambda **k: load.ack_latency(fal, **k),
        "overhead": lambda **k: load.overhead(fal, **k),
        "burst": lambda **k: load.burst(fal, **k),
        "status": lambda **k: status.status_requests(fal, **k),
        "memory": lambda **k: load.memory(fal, **k),
        "report": report_figures,
        "admission": store_bench.admissions,
        "replica_admission": replicas.admissions,
        "replica_ack": lambda **k: replicas.replica_acks(fal, **k),
    }


async def run(
    quick: bool = False, only: list[str] | None = None, fal: FalStandIn | None = None
) -> list[Figure]:
    own = fal is None
    fal = fal or await fal_standin()
    sizes = QUICK if quick else FULL
    figures: list[Figure] = []
    try:
        for name, bench in benchmarks(fal).items():
            if only and name not in only:
                continue
            print(f"running {name}…", file=sys.stderr, flush=True)
            fal.reset()
            figures += await bench(**sizes[name])
    finally:
        if own:
            await fal.stop()
    return figures


def table(figures: list[Figure]) -> str:
    lines = ["| figure | target | measured | result |", "| --- | --- | --- | --- |"]
    for f in figures:
        lines.append(f"| {f.name} | {f.target} | {f.measured} | {'pass' if f.passed else 'FAIL'} |")
    return "\n".join(lines)


def results_page(figures: list[Figure], quick: bool) -> str:
    info = report_bench.machine()
    notes = [f"- {f.name}: {f.note}" for f in figures if f.note]
    return "\n".join(
        [
            "# imagebot benchmarks",
            "",
            f"Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC{' (quick run)' if quick else ''}.",
            f"Machine: {info['platform']}, {info['cpu']}, {info['cpus']} CPUs, Python"
            f" {info['python']}, SQLite {info['sqlite']}. The bot ran as its own process; the"
            " Slack and fal stand-ins and the load generator shared the other core.",
            "",
            table(figures),
            "",
            "Notes:",
            *notes,
            "",
            "Overhead per job is the time from sending /image to the images being in the thread,",
            "minus the fal stand-in's queue and generation time, minus the time the fal stand-in",
            "spent serving the result and the images, minus the time the Slack stand-in spent",
            "answering the card post and the upload calls. What remains is the bot's own time,",
            "including how late it noticed that fal was done (from when fal's status stream said",
            "so: a busy stand-in may say it late). The first 20 jobs start spread over one",
            "generation time, so 20 are in flight at any moment. In the burst, 20 jobs are sent",
            "at once and finish at fal in the same instant (the stand-in renders their images at",
            "submit, so its own work is not on the machine then); the figure is each job's time",
            "from fal saying it is done to its images in the thread, minus fal's serving and",
            "Slack's answering. The bot's CPU time per job (from /proc, over the whole job) says",
            "how much of the wait can be the bot's own work.",
            "",
            "The replica figures run the bots as separate processes on one PostgreSQL (a fresh",
            "database on the server IMAGEBOT_TEST_DATABASE_URL names), on the same 2-CPU machine",
            "as the stand-ins and the load generator: two replicas share the same two CPUs, so",
            "they show that replicas work together, not how two machines would scale.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny numbers, to check the harness")
    parser.add_argument("--only", nargs="*", choices=sorted(FULL), help="run only these")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results.md")
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.quick, args.only))
    print(table(figures))
    if not args.no_write and not args.quick:
        RESULTS.write_text(results_page(figures, args.quick))
        print(f"\nwritten to {RESULTS}")
    return 0 if all(f.passed for f in figures) else 1

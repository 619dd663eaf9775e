"""Scale-out: budget admissions from two processes on PostgreSQL against one on SQLite, and
/image acks from two bot replicas on one PostgreSQL against one.

PostgreSQL is the server named by IMAGEBOT_TEST_DATABASE_URL (a fresh database is made on it
and dropped after); without it those figures say they were skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.load import command_sender, open_loop
from bench.rig import Figure, percentile
from bench.store_bench import MONTH, _job
from bot.store import Store
from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.harness import SIGNING_SECRET, bot_env
from bot.testing.process import BotProcess
from bot.testing.slack.driver import Reply, SlackDriver
from bot.testing.slack.standin import SlackStandIn

ROOT = Path(__file__).resolve().parents[1]
NO_POSTGRES = "skipped: no PostgreSQL (set IMAGEBOT_TEST_DATABASE_URL)"


@contextlib.contextmanager
def postgres() -> Iterator[str | None]:
    """A fresh database's URL on the benchmark's server, or None when there is none."""
    if not os.environ.get("IMAGEBOT_TEST_DATABASE_URL"):
        yield None
        return
    from tests.postgres import fresh_database

    with fresh_database() as url:
        yield url


# --- admissions ---------------------------------------------------------------------------


async def _open(target: str) -> Store:
    sqlite = target.startswith("sqlite:///")
    return await Store.open(Path(target.removeprefix("sqlite:///")) if sqlite else target)


async def _admit_many(target: str, count: int, concurrent: int, first: int, at: float) -> Any:
    """In one process: `count` admissions, `concurrent` at a time, from wall time `at`."""
    store = await _open(target)
    latencies: list[float] = []
    numbers = iter(range(first, first + count))
    await asyncio.sleep(max(0.0, at - time.time()))

    async def worker() -> None:
        for number in numbers:
            started = time.perf_counter()
            await store.admit(
                _job(number), month=MONTH, user_budget_micros=None, team_budget_micros=None
            )
            latencies.append(time.perf_counter() - started)

    try:
        await asyncio.gather(*(worker() for _ in range(concurrent)))
    finally:
        await store.close()
    return {"latencies": latencies, "ended": time.time()}


async def _processes(target: str, processes: int, count: int, concurrent: int) -> Figure:
    """`processes` processes admitting at once; admissions per second and p99 of all of them."""
    await (await _open(target)).close()  # the schema first, so no process times a migration
    at = time.time() + 3.0
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.replicas", target, str(count), str(concurrent),
            str(number * count), str(at), cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        )
        for number in range(processes)
    ]  # fmt: skip
    outputs = [json.loads((await child.communicate())[0]) for child in children]
    latencies = [x for out in outputs for x in out["latencies"]]
    rate = len(latencies) / (max(out["ended"] for out in outputs) - at)
    p99 = percentile(latencies, 0.99)
    where = "PostgreSQL" if "postgres" in target else "SQLite"
    return Figure(
        f"budget admissions, {processes} process{'es' if processes > 1 else ''} on {where}",
        "> 500/s, p99 < 100 ms",
        f"{rate:,.0f}/s, p99 {p99 * 1000:.0f} ms",
        rate > 500 and p99 < 0.1,
        f"{count} admissions per process, {concurrent} at once, 50 people,"
        f" median {statistics.median(latencies) * 1000:.1f} ms",
    )


async def admissions(count: int, concurrent: int) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="imagebot-bench-") as folder:
        figures = [await _processes(f"sqlite:///{folder}/bench.db", 1, count, concurrent)]
    with postgres() as url:
        if url is None:
            figures.append(_skipped("budget admissions, 2 processes on PostgreSQL", "> 500/s"))
        else:
            figures.append(await _processes(url, 2, count, concurrent))
    return figures


def _skipped(name: str, target: str) -> Figure:
    return Figure(name, target, NO_POSTGRES, True)


# --- acks from replicas -------------------------------------------------------------------


async def _replica_acks(
    fal: FalStandIn, database: str | None, replicas: int, rate: float, seconds: float
) -> list[Reply]:
    slack = SlackStandIn()
    for number in range(200):
        slack.add_user(f"U{number:04d}", f"person{number}")
    await slack.start()
    folders = [Path(tempfile.mkdtemp(prefix="imagebot-bench-")) for _ in range(replicas)]
    bots = [BotProcess({}, folder) for folder in folders]
    drivers = [SlackDriver(bot.events_url, SIGNING_SECRET, slack) for bot in bots]
    try:
        for bot, folder in zip(bots, folders, strict=True):
            env = bot_env(slack, folder, FAL_KEY=fal.key, IMAGEBOT_LOG_LEVEL="WARNING")
            if database is not None:
                env["IMAGEBOT_DATABASE_URL"] = database
            bot.env.update(env)
            await bot.start()
        senders = [command_sender(driver, 50) for driver in drivers]
        # A load balancer in front: each command goes to the next replica.
        return await open_loop(lambda n: senders[n % replicas](n), rate, seconds)
    finally:
        for driver in drivers:
            await driver.close()
        for bot in bots:
            bot.stop()
        await slack.stop()


def _ack_figure(name: str, replies: list[Reply], note: str) -> Figure:
    times = [r.seconds for r in replies]
    p99, worst = percentile(times, 0.99), max(times)
    bad = sum(1 for r in replies if r.status != 200)
    over = sum(t > 3 for t in times)
    return Figure(
        name,
        "p99 < 100 ms, none over 3 s",
        f"p99 {p99 * 1000:.1f} ms, max {worst * 1000:.0f} ms, {over} over 3 s",
        p99 < 0.1 and over == 0 and bad == 0,
        f"{len(replies)} commands, p50 {statistics.median(times) * 1000:.1f} ms,"
        f" non-200: {bad}; {note}",
    )


# GPT Image 2 takes tens of seconds at fal: during the burst of commands, jobs are taken in,
# carded and submitted, and none comes back yet.
AT_FAL = FalBehaviour(run_seconds=60.0)


async def replica_acks(fal: FalStandIn, rate: float, seconds: float) -> list[Figure]:
    fal.default = AT_FAL
    label = f"/image ack at {rate:g}/s for {seconds:g} s"
    with postgres() as url:
        one = await _replica_acks(fal, url, 1, rate, seconds)
        where = "PostgreSQL" if url else "SQLite"
        figures = [_ack_figure(f"{label}, one replica ({where})", one, "one bot process")]
        if url is None:
            figures.append(_skipped(f"{label}, two replicas (PostgreSQL)", "p99 < 100 ms"))
            return figures
        fal.reset()
        fal.default = AT_FAL
    with postgres() as url:
        two = await _replica_acks(fal, url, 2, rate, seconds)
    note = "two bot processes on one database, commands sent to each in turn"
    figures.append(_ack_figure(f"{label}, two replicas (PostgreSQL)", two, note))
    return figures


def main(argv: list[str]) -> None:
    """A child of the admissions benchmark: TARGET COUNT CONCURRENT FIRST START_AT."""
    target, count, concurrent, first, at = argv
    found = asyncio.run(_admit_many(target, int(count), int(concurrent), int(first), float(at)))
    print(json.dumps(found))


if __name__ == "__main__":
    main(sys.argv[1:])

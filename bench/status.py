"""Status requests per job, the bot side by side with fal_client.subscribe() at its defaults,
on the same fal stand-in and the same jobs; and how late each noticed the job was done."""

from __future__ import annotations

import asyncio
import statistics

from bench.rig import Figure, Rig
from bot.testing.fal.standin import FalBehaviour, FalRecord, FalStandIn
from bot.testing.process import wait_until


async def status_requests(fal: FalStandIn, jobs: int, run_seconds: float) -> list[Figure]:
    import fal_client  # only now: the environment names the stand-in

    fal.default = FalBehaviour(run_seconds=run_seconds)
    rig = Rig(fal)
    await rig.start()
    try:
        client = fal_client.AsyncClient(key=fal.key)
        baseline = [
            client.subscribe("openai/gpt-image-2", {"prompt": f"subscribe {n}", "quality": "low"})
            for n in range(jobs)
        ]
        ours = [
            rig.driver.command("/image", f"bot {n} --quality low", user=f"U{n:04d}")
            for n in range(jobs)
        ]
        await asyncio.gather(*baseline, *ours)
        await wait_until(
            lambda: sum(1 for u in rig.slack.uploads if u.completed) >= jobs,
            run_seconds + 120,
            what="the bot's jobs",
        )
    finally:
        await rig.close()
    bot = [r for r in fal.requests if r.arguments["prompt"].startswith("bot ")]
    sub = [r for r in fal.requests if r.arguments["prompt"].startswith("subscribe ")]
    ours_per_job = statistics.mean(_requests(r) for r in bot)
    theirs_per_job = statistics.mean(_requests(r) for r in sub)
    ratio = theirs_per_job / ours_per_job
    lag = statistics.median(_lag(r) for r in bot)
    note = (
        f"{jobs} jobs of {run_seconds:g} s each way; subscribe(): {theirs_per_job:.0f} requests"
        f" a job, median lag {statistics.median(_lag(r) for r in sub) * 1000:.0f} ms"
    )
    return [
        Figure(
            f"status requests per job ({run_seconds:g} s generation)",
            ">= 20x fewer than subscribe()",
            f"{ours_per_job:.1f} ({ratio:.0f}x fewer)",
            ratio >= 20,
            note,
        ),
        Figure(
            "added latency from status checks, median", "< 1 s", f"{lag * 1000:.0f} ms", lag < 1.0
        ),
    ]


def _requests(record: FalRecord) -> int:
    return record.status_calls + record.stream_calls


def _lag(record: FalRecord) -> float:
    """From fal finishing to the result being asked for."""
    return (record.result_asked_at or 0.0) - (record.completed_at or 0.0)

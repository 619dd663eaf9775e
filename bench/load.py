"""The bot under load, as a real process: ack latency, overhead per job, memory in flight."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.rig import Figure, Rig, percentile
from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.harness import SIGNING_SECRET
from bot.testing.process import free_port, wait_until
from bot.testing.slack.driver import Reply, SlackDriver
from bot.testing.slack.standin import Call, SlackStandIn

IMAGE_BYTES = 1_500_000


async def open_loop(
    send: Callable[[int], Awaitable[Reply]], rate: float, seconds: float
) -> list[Reply]:
    """Send at a fixed rate whatever the answers do (a closed loop would hide slow acks)."""
    loop = asyncio.get_running_loop()
    start, tasks = loop.time(), []
    for number in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + number / rate - loop.time()))
        tasks.append(asyncio.create_task(send(number)))
    return list(await asyncio.gather(*tasks))


def command_sender(driver: SlackDriver, users: int) -> Callable[[int], Awaitable[Reply]]:
    return lambda n: driver.command("/image", f"load {n} --quality low", user=f"U{n % users:04d}")


async def ack_latency(fal: FalStandIn, rate: float, seconds: float) -> list[Figure]:
    fal.default = FalBehaviour(run_seconds=0.5)
    rig = Rig(fal)
    await rig.start()
    try:
        replies = await open_loop(command_sender(rig.driver, 50), rate, seconds)
    finally:
        await rig.close()
    baseline = await bare_bolt_latency(rate, seconds)
    times = [r.seconds for r in replies]
    p99, worst = percentile(times, 0.99), max(times)
    bad = sum(1 for r in replies if r.status != 200)
    ratio = p99 / baseline if baseline > 0 else float("nan")
    note = f"{len(replies)} commands, p50 {statistics.median(times) * 1000:.1f} ms, non-200: {bad}"
    return [
        Figure(
            f"/image ack p99 at {rate:g}/s for {seconds:g} s",
            "< 100 ms",
            f"{p99 * 1000:.1f} ms ({ratio:.2f}x a bare Bolt ack)",
            p99 < 0.1 and bad == 0,
            note,
        ),
        Figure(
            "/image acks over 3 s",
            "0",
            f"{sum(t > 3 for t in times)} (max {worst * 1000:.0f} ms)",
            worst <= 3.0,
        ),
    ]


async def bare_bolt_latency(rate: float, seconds: float) -> float:
    """p99 of a Bolt app that only acks, on the same machine and load: the baseline."""
    slack = SlackStandIn()
    await slack.start()
    port = free_port()
    script = Path(__file__).with_name("bare_bolt.py")
    command = [sys.executable, str(script), str(port), slack.api_url, SIGNING_SECRET]
    proc = subprocess.Popen(command)  # noqa: ASYNC220 (starting it does not block)
    driver = SlackDriver(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, slack)
    try:
        await wait_until(lambda: _answers(port), 30, what="the bare Bolt app")
        replies = await open_loop(command_sender(driver, 50), rate, seconds)
    finally:
        await driver.close()
        proc.terminate()
        proc.wait(timeout=30)
        await slack.stop()
    return percentile([r.seconds for r in replies], 0.99)


async def _answers(port: int) -> bool:
    import aiohttp

    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/") as r,
        ):
            return r.status in (404, 405)
    except aiohttp.ClientError:
        return False


async def overhead(
    fal: FalStandIn, jobs: int, in_flight: int, run_seconds: float, *, stagger: bool = True
) -> list[Figure]:
    """Per job: command to last image in the thread, minus fal's and Slack's own time."""
    fal.default = FalBehaviour(run_seconds=run_seconds, image_min_bytes=IMAGE_BYTES)
    rig = Rig(
        fal, IMAGEBOT_MAX_JOBS_AT_FAL=str(in_flight), IMAGEBOT_MAX_JOBS_PER_USER=str(in_flight)
    )
    await rig.start()
    sent: dict[str, float] = {}
    cpu_before = rig.bot.cpu_seconds()
    try:
        gate = asyncio.Semaphore(in_flight)
        done = Completions(rig.slack)
        watching = asyncio.create_task(done.watch())

        async def one(number: int) -> None:
            async with gate:
                # The first jobs start spread over one generation time, so the bot sees a
                # steady 20 in flight rather than 20 arriving and finishing at one instant.
                if stagger and number < in_flight:
                    await asyncio.sleep(number * run_seconds / in_flight)
                tag = f"overhead {number}"
                sent[tag] = time.monotonic()
                user = f"U{number % in_flight:04d}"
                await rig.driver.command("/image", f"{tag} --quality low", user=user)
                await asyncio.wait_for(done.of(tag).wait(), 120)

        await asyncio.gather(*(one(n) for n in range(jobs)))
        watching.cancel()
        cpu = (rig.bot.cpu_seconds() - cpu_before) / jobs
        costs = [_overhead(rig.slack, fal, tag, at) for tag, at in sent.items()]
    finally:
        await rig.close()
    med, p99 = statistics.median(costs), percentile(costs, 0.99)
    size = f"{IMAGE_BYTES / 1e6:.1f} MB PNGs"
    note = f"{jobs} jobs, {in_flight} in flight, {size}, fal {run_seconds:g} s each"
    note += f"; the bot's CPU time per job {cpu * 1000:.0f} ms"
    return [
        Figure("overhead per job, median", "< 150 ms", f"{med * 1000:.0f} ms", med < 0.15, note),
        Figure("overhead per job, p99", "< 500 ms", f"{p99 * 1000:.0f} ms", p99 < 0.5),
    ]


async def burst(fal: FalStandIn, jobs: int, run_seconds: float) -> list[Figure]:
    """`jobs` commands at once, long enough at fal for all to be submitted, so that they
    finish in the same instant: the bot's time per job from fal saying it is done to the
    images in the thread, minus fal's and Slack's time in between."""
    fal.default = FalBehaviour(
        run_seconds=run_seconds, image_min_bytes=IMAGE_BYTES, render_early=True
    )
    limits = {"IMAGEBOT_MAX_JOBS_AT_FAL": str(jobs), "IMAGEBOT_MAX_JOBS_PER_USER": str(jobs)}
    rig = Rig(fal, **limits)
    await rig.start()
    try:
        cpu_before = rig.bot.cpu_seconds()
        done = Completions(rig.slack)
        watching = asyncio.create_task(done.watch())

        async def one(number: int) -> None:
            tag = f"burst {number:03d}"  # no tag is the start of another
            await rig.driver.command("/image", f"{tag} --quality low", user=f"U{number:04d}")
            await asyncio.wait_for(done.of(tag).wait(), 120)

        await asyncio.gather(*(one(n) for n in range(jobs)))
        watching.cancel()
        cpu = (rig.bot.cpu_seconds() - cpu_before) / jobs
        costs = [_finishing(rig.slack, fal, f"burst {n:03d}") for n in range(jobs)]
    finally:
        await rig.close()
    ends = [r.done_at() or 0.0 for r in fal.requests]
    med = statistics.median(costs)
    note = f"{jobs} jobs at once, fal {run_seconds:g} s each (finishing within"
    note += f" {(max(ends) - min(ends)) * 1000:.0f} ms of each other), 1.5 MB PNGs"
    return [
        Figure(
            f"{jobs} jobs finishing in the same instant: the bot's time per job, median",
            "< 50 ms", f"{med * 1000:.0f} ms (p99 {percentile(costs, 0.99) * 1000:.0f} ms)",
            med < 0.05, note,
        ),
        Figure(
            "the bot's CPU time per job (the whole job)", "< 50 ms", f"{cpu * 1000:.0f} ms",
            cpu < 0.05,
        ),
    ]  # fmt: skip


def _finishing(slack: SlackStandIn, fal: FalStandIn, tag: str) -> float:
    """From fal's status stream saying the job is done to its images being shared in the
    thread, minus fal's time serving the result and images and Slack's answering the upload."""
    done = _completion(slack, tag)
    assert done is not None
    ids = {str(f["id"]) for f in done.args.get("files") or []}
    uploads = [u for u in slack.uploads if u.file_id in ids]
    names = {u.filename for u in uploads}
    slack_time = done.duration + sum(u.seconds for u in uploads)
    slack_time += sum(
        c.duration
        for c in slack.calls_to("files.getUploadURLExternal")
        if c.args.get("filename") in names
    )
    record = next(r for r in fal.requests if r.arguments.get("prompt") == tag)
    told = max(record.completed_at or 0.0, record.streamed_done_at or 0.0)
    return (done.time + done.duration - told) - record.serve_seconds - slack_time


class Completions:
    """Watches the Slack stand-in once for every job, instead of every job polling it."""

    def __init__(self, slack: SlackStandIn) -> None:
        self.slack = slack
        self._events: dict[str, asyncio.Event] = {}
        self._seen = 0

    def of(self, tag: str) -> asyncio.Event:
        return self._events.setdefault(tag, asyncio.Event())

    async def watch(self) -> None:
        while True:
            calls = self.slack.calls
            for call in calls[self._seen :]:
                if call.method == "files.completeUploadExternal" and call.ok:
                    for item in call.args.get("files") or []:
                        self.of(str(item.get("title", ""))).set()
            self._seen = len(calls)
            await asyncio.sleep(0.02)


def _completion(slack: SlackStandIn, tag: str) -> Call | None:
    for call in slack.calls_to("files.completeUploadExternal"):
        if call.ok and any(tag in str(f.get("title", "")) for f in call.args.get("files") or []):
            return call
    return None


def _overhead(slack: SlackStandIn, fal: FalStandIn, tag: str, sent_at: float) -> float:
    done = _completion(slack, tag)
    assert done is not None
    ids = {str(f["id"]) for f in done.args.get("files") or []}
    uploads = [u for u in slack.uploads if u.file_id in ids]
    names = {u.filename for u in uploads}
    slack_time = done.duration + sum(u.seconds for u in uploads)
    slack_time += sum(
        c.duration
        for c in slack.calls_to("files.getUploadURLExternal")
        if c.args.get("filename") in names
    )
    slack_time += sum(
        c.duration for c in slack.calls_to("chat.postMessage") if tag in str(c.args.get("text", ""))
    )
    record = next(r for r in fal.requests if r.arguments.get("prompt") == tag)
    # From the submit until fal said it was done (on the stream, when that came later than
    # the moment it finished: the stand-in shares the machine and may tell late).
    told = max(record.completed_at or 0.0, record.streamed_done_at or 0.0)
    generation = told - record.submitted_at
    return (done.time + done.duration - sent_at) - generation - record.serve_seconds - slack_time


def _images_in(folder: Path) -> int:
    """PNG files under `folder`; folders removed while it looks are skipped, not an error."""
    return sum(1 for _, _, names in os.walk(folder) for name in names if name.endswith(".png"))


async def memory(fal: FalStandIn, jobs: int, run_seconds: float) -> list[Figure]:
    """Resident memory of the bot with `jobs` at a slow fal and their images coming back."""
    fal.default = FalBehaviour(run_seconds=run_seconds, image_min_bytes=IMAGE_BYTES)
    limits = {"IMAGEBOT_MAX_JOBS_AT_FAL": str(jobs), "IMAGEBOT_MAX_JOBS_PER_USER": str(jobs)}
    rig = Rig(fal, **limits)
    await rig.start()
    samples: list[int] = []
    try:
        idle = rig.bot.memory_kb()["VmRSS"]
        await open_loop(command_sender(rig.driver, 200), 100, jobs / 100)

        def delivered() -> bool:
            samples.append(rig.bot.memory_kb()["VmRSS"])
            return sum(1 for u in rig.slack.uploads if u.completed) >= jobs

        await wait_until(delivered, run_seconds + 600, what="every image delivered")
        peak = rig.bot.memory_kb()["VmHWM"]
        spool = rig.folder / "imagebot-spool"
        # A job empties its spool folder just after its upload completes: give the last
        # ones time to finish before counting what was left behind.
        # Images still there after that are counted below and fail the figure.
        with contextlib.suppress(AssertionError):
            await wait_until(lambda: _images_in(spool) == 0, 60, what="the spool emptied")
        spool_left = _images_in(spool)
    finally:
        await rig.close()
    size = f"{IMAGE_BYTES / 1e6:.1f} MB images"
    note = f"idle {idle / 1024:.0f} MB; {jobs} jobs at fal {run_seconds:g} s, {size}"
    note += f"; images left in the spool: {spool_left}"
    data: dict[str, Any] = {
        "samples_mb": [s / 1024 for s in samples[:: max(1, len(samples) // 50)]]
    }
    return [
        Figure(
            f"resident memory, {jobs} jobs in flight (peak)",
            "< 300 MB",
            f"{peak / 1024:.0f} MB",
            peak < 300 * 1024 and spool_left == 0,
            note,
            data,
        )
    ]

"""fal's answers about one request, as functions of what the stand-in recorded of it: its
status body and status stream, why its result is refused, its images, and the error answers
fal gives."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from contextlib import AbstractContextManager
from typing import Any

from aiohttp import web

from bot.testing.fal.models import (
    JSON,
    LOCKED_DETAIL,
    NGINX_503,
    STREAM_IDLE,
    STREAM_TICK,
    FalRecord,
    convert,
    dimensions,
    output_count,
    status_logs,
)
from bot.testing.images import make_png, padded_png


def rate_limited(rec: FalRecord, outcome: str) -> bool:
    """Whether this call meets the scripted rate limit (fail_times of them, then normal)."""
    b = rec.behaviour
    if b.outcome != outcome or (b.fail_times is not None and rec.limited >= b.fail_times):
        return False
    rec.limited += 1
    return True


def status_body(rec: FalRecord, now: float, with_logs: bool, urls: JSON) -> JSON:
    phase = rec.phase(now)
    body: JSON = {"status": phase, "request_id": rec.request_id, **urls}
    if phase == "IN_QUEUE":
        body["queue_position"] = rec.queue_position(now)
        return body
    body["logs"] = status_logs(phase) if with_logs else []
    if phase == "COMPLETED":
        ran = rec.ran(now) and rec.started_at is not None
        inference = max(0.0, (rec.done_at() or now) - (rec.started_at or now))
        # metrics.inference_time: "Seconds the runner spent processing" (fal's queue docs).
        body["metrics"] = {"inference_time": round(inference, 3) if ran else 0}
        if rec.stopped:
            body.update(error=STOPPED, error_type="request_cancelled")
        elif rec.cancelled:
            body.update(error="Request cancelled", error_type="request_cancelled")
        elif rec.error is not None:
            body.update(error=rec.error["msg"], error_type=rec.error["type"])
        if rec.cancelled and rec.behaviour.cancelled_status == "CANCELLED":
            body["status"] = "CANCELLED"
    return body


def result_refusal(rec: FalRecord) -> web.Response | None:
    """The non-200 answers of a result fetch, or None when the images may be served."""
    if rec.stopped:
        # The app raised RequestCancelledException: fal's SDK answers 499 (fal-ai/fal
        # `projects/fal/src/fal/app.py`); the units the runner used are billed.
        return answer(
            rec, {"detail": STOPPED}, status=499, headers=units_header(rec.behaviour.stop_units)
        )
    if rec.cancelled:
        return answer(rec, {"detail": "Request was cancelled"}, status=400)
    if rec.phase(time.monotonic()) != "COMPLETED":
        return answer(rec, {"detail": "Request is still in progress"}, status=400)
    if rate_limited(rec, "result_429"):
        return rate_limit(rec)
    if rec.error is not None:
        headers = {"X-Fal-Retryable": "false", **units_header(rec.behaviour.error_units)}
        return answer(rec, {"detail": [rec.error]}, status=422, headers=headers)
    b = rec.behaviour
    if b.outcome == "result_500" and (b.fail_times is None or rec.result_failures < b.fail_times):
        rec.result_failures += 1
        body = {"detail": "Internal Server Error", "error_type": "runner_server_error"}
        headers = {"X-Fal-Error-Type": "runner_server_error"}
        return answer(rec, body, status=500, headers=headers)
    return None


def render(rec: FalRecord, base_url: str) -> list[tuple[JSON, bytes]]:
    args = rec.arguments
    width, height = dimensions(args, rec.endpoint_id)
    fmt = args.get("output_format", "png")
    fmt = fmt if fmt in ("png", "jpeg", "webp", "jpg") else "png"
    count = output_count(args)
    rendered = []
    for i in range(count):
        seed, size = f"{rec.request_id}/{i}", rec.behaviour.image_min_bytes
        png = padded_png(seed, width, height, size) if size else make_png(seed, width, height)
        data = convert(png, fmt)
        name, content_type = f"{i}.{fmt}", f"image/{fmt.replace('jpg', 'jpeg')}"
        url = f"{base_url}/cdn/{rec.request_id}/{name}"
        if args.get("sync_mode") is True:  # fal answers with data URIs instead of CDN URLs
            url = f"data:{content_type};base64,{base64.b64encode(data).decode()}"
        meta: JSON = {"url": url, "content_type": content_type, "file_name": name}
        meta.update(width=width, height=height, file_size=len(data))
        rendered.append((meta, data))
    return rendered


STOPPED = "Request cancelled by the client."


def units_header(units: object) -> dict[str, str]:
    return {} if units is None else {"x-fal-billable-units": str(units)}


def rate_limit(rec: FalRecord) -> web.Response:
    body = {"detail": "Too many requests", "error_type": "rate_limited"}
    return answer(rec, body, status=429, headers={"Retry-After": "1"})


def answer(
    rec: FalRecord, body: JSON, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        body, status=status, headers={"x-fal-request-id": rec.request_id, **(headers or {})}
    )


def submit_failure(outcome: str) -> web.Response:
    if outcome == "locked":
        return web.json_response({"detail": LOCKED_DETAIL}, status=403)
    if outcome == "submit_503":
        # An ingress error: no x-fal-request-id, nginx page; fal_client retries these.
        return web.Response(text=NGINX_503, status=503, content_type="text/html")
    headers = {"x-fal-request-id": str(uuid.uuid4()), "X-Fal-Error-Type": "internal_error"}
    body = {"detail": "Internal Server Error", "error_type": "internal_error"}
    return web.json_response(body, status=500, headers=headers)


def schema_refusal(problems: list[JSON]) -> web.Response:
    """Inputs outside the endpoint's schema get fal's 422 `detail` list at once, and fal's SDK
    marks schema errors unbilled (`x-fal-billable-units: 0`, fal-ai/fal
    `projects/fal/src/fal/api/api.py`, RequestValidationError handling). fal would take the
    submit and answer the 422 from the result; refusing at submit is stricter on purpose."""
    headers = {"x-fal-request-id": str(uuid.uuid4()), "x-fal-billable-units": "0"}
    return web.json_response({"detail": problems}, status=422, headers=headers)


async def follow(
    rec: FalRecord,
    response: web.StreamResponse,
    with_logs: bool,
    lock: AbstractContextManager[Any],
    urls: JSON,
) -> None:
    """The status stream: one `data:` event per change, until the request is done."""
    sent = None
    while True:
        with lock:
            body = status_body(rec, time.monotonic(), with_logs, urls)
        if body != sent:
            await response.write(f"data: {json.dumps(body)}\n\n".encode())
            sent = body
        if body["status"] not in ("IN_QUEUE", "IN_PROGRESS") or rec.behaviour.stream_drops:
            if body["status"] not in ("IN_QUEUE", "IN_PROGRESS") and rec.streamed_done_at is None:
                rec.streamed_done_at = time.monotonic()
            return
        await asyncio.sleep(_until_change(rec, lock))


def _until_change(rec: FalRecord, lock: AbstractContextManager[Any]) -> float:
    """Sleep until the status may change: the queue ticks down, the run ends."""
    now = time.monotonic()
    with lock:
        done = rec.done_at()
        queue_end = rec.started_at
    if queue_end is None or now < queue_end:
        return STREAM_TICK
    if done is None:
        return STREAM_IDLE
    # A forced completion or a cancel can come earlier: look again at least this often.
    return max(0.0, min(done - now, STREAM_IDLE))

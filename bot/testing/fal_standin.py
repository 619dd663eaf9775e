"""Loopback TLS stand-in for fal's queue API, so tests and benchmarks can drive the real fal_client.

It follows fal's queue protocol (shared/reference/fal.md): submit, status, result and cancel under
owner/alias URLs, `Authorization: Key` auth, fal's error shapes, and a CDN path serving real images.
Each request's state is derived from the time since submit, scripted by a `FalBehaviour`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import socket
import ssl
import tempfile
import threading
import time
import uuid
import weakref
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web
from PIL import Image

from bot.testing.images import make_png, padded_png

JSON = dict[str, Any]

SUBMIT_FAILURES = ("locked", "submit_500", "submit_503")
# status_429 / result_429: fal's rate limit on those calls (fail_times of them, then normal).
OUTCOMES = (
    "ok", "validation_error", "content_policy", "result_500", "never", "status_429", "result_429",
    *SUBMIT_FAILURES,
)  # fmt: skip
GPT_IMAGE_2 = "openai/gpt-image-2"
# How often the status stream looks for a change while queued (positions tick down), and at
# least how often otherwise (a forced completion or a cancel has no event to wait on).
STREAM_TICK = 0.1
STREAM_IDLE = 0.25
PRESETS: dict[str, tuple[int, int]] = {
    "square_hd": (1024, 1024),
    "square": (1024, 1024),
    "auto": (1024, 1024),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}
CHOICES: dict[str, tuple[str, ...]] = {
    "quality": ("low", "medium", "high", "auto"),
    "output_format": ("png", "jpeg", "webp"),
    "background": ("auto", "transparent", "opaque"),
}
LOCKED_DETAIL = (
    "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing."
)
NGINX_503 = (
    "<html><head><title>503 Service Temporarily Unavailable</title></head><body><center>"
    "<h1>503 Service Temporarily Unavailable</h1></center><hr><center>nginx</center></body></html>"
)


@dataclass
class FalBehaviour:
    """How one submitted request behaves; `fail_times` limits the scripted failures to N tries."""

    queue_seconds: float = 0.0
    queue_position: int = 0
    run_seconds: float = 0.3
    outcome: str = "ok"
    billable_units: Decimal | None = Decimal("0.0421")
    content_policy_category: str = "violence"
    # Guaranteed for png output (padding in an ancillary chunk, which decoders skip); jpeg and
    # webp are converted from the picture and come out smaller.
    image_min_bytes: int = 0
    fail_times: int | None = None
    # The status stream (SSE): served unless `stream` is False; `stream_drops` ends it after
    # the first event, as a dropped connection would.
    stream: bool = True
    stream_drops: bool = False

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}; expected one of {OUTCOMES}")


@dataclass
class FalRecord:
    """One accepted submit, as the stand-in saw it. Header names are lower-cased."""

    request_id: str
    endpoint_id: str
    arguments: JSON
    headers: dict[str, str]
    submitted_at: float
    behaviour: FalBehaviour
    webhook_url: str | None = None
    status_calls: int = 0
    result_calls: int = 0
    cancelled: bool = False
    expired: bool = False
    # The 422 detail item when the request fails validation or the content policy.
    error: JSON | None = None
    result: JSON | None = None
    image_urls: list[str] = field(default_factory=list)
    media: dict[str, bytes] = field(default_factory=dict)
    forced_done_at: float | None = None
    result_failures: int = 0
    limited: int = 0
    stream_calls: int = 0
    # Seconds spent serving the result and the images (fal's time, not the bot's).
    serve_seconds: float = 0.0
    # When the bot first asked for the result: its delay after completion is status lag.
    result_asked_at: float | None = None

    @property
    def app(self) -> str:
        """owner/alias (with namespace): fal keeps every request of an app under this path."""
        parts = self.endpoint_id.split("/")
        return "/".join(parts[: 3 if parts[0] in ("workflows", "comfy") else 2])

    def done_at(self) -> float | None:
        if self.forced_done_at is not None:
            return self.forced_done_at
        if self.behaviour.outcome == "never":
            return None
        return self.submitted_at + self.behaviour.queue_seconds + self.behaviour.run_seconds

    @property
    def completed_at(self) -> float | None:
        done = self.done_at()
        return done if done is not None and done <= time.monotonic() else None

    def phase(self, now: float) -> str:
        done = self.done_at()
        if done is not None and done <= now:
            return "COMPLETED"
        if now < self.submitted_at + self.behaviour.queue_seconds:
            return "IN_QUEUE"
        return "IN_PROGRESS"

    def queue_position(self, now: float) -> int:
        b = self.behaviour
        if b.queue_seconds <= 0:
            return 0
        remaining = max(0.0, self.submitted_at + b.queue_seconds - now)
        return min(b.queue_position, round(b.queue_position * remaining / b.queue_seconds))


class FalStandIn:
    """fal's queue API on https://127.0.0.1:PORT; set FAL_QUEUE_RUN_HOST to `netloc`."""

    def __init__(self, *, key: str = "test-fal-key", host: str = "127.0.0.1", port: int = 0):
        import trustme  # test-only dependency

        self.key, self.host, self.port = key, host, port
        ca = trustme.CA()
        self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(self._ssl)
        fd, self.ca_path = tempfile.mkstemp(prefix="fal-standin-ca-", suffix=".pem")
        os.close(fd)
        ca.cert_pem.write_to_path(self.ca_path)
        weakref.finalize(self, _unlink, self.ca_path)
        self._lock = threading.RLock()
        self.default = FalBehaviour()
        self.requests: list[FalRecord] = []
        self.calls: Counter[str] = Counter()
        self._by_id: dict[str, FalRecord] = {}
        self._plan: deque[FalBehaviour] = deque()
        self._plan_for: list[tuple[str, FalBehaviour]] = []
        self._submit_failures: dict[int, tuple[FalBehaviour, int]] = {}
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"https://{self.netloc}"

    # Lifecycle

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Reusing a port that just served (TIME_WAIT) must work: tests reserve ports up front.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = int(sock.getsockname()[1])
        # Edit requests carry user images as data: URIs, far above aiohttp's 1 MiB default.
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.add_routes(
            [
                web.get("/cdn/{rid}/{name}", self._cdn),
                web.get("/{app:.+}/requests/{rid}/status", self._status),
                web.get("/{app:.+}/requests/{rid}/status/stream", self._stream),
                web.put("/{app:.+}/requests/{rid}/cancel", self._cancel),
                web.get("/{app:.+}/requests/{rid}", self._result),
                web.post("/{endpoint:.+}", self._submit),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock, ssl_context=self._ssl).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start_in_thread(self) -> None:
        """Serve from a private event loop, so tests on any loop (or none) can use it."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="fal-standin", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result(timeout=30)
        except BaseException:
            self.stop_in_thread()  # do not leave the loop thread running
            raise

    def stop_in_thread(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._stop_everything(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
        self._loop = self._thread = None

    async def _stop_everything(self) -> None:
        """Stop serving, then end what is left (status streams nobody reads any more)."""
        await self.stop()
        left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)

    # Scripting and inspection (safe to call from any thread)

    def plan(self, *behaviours: FalBehaviour) -> None:
        """Queue behaviours, one per accepted submit (a failing submit with fail_times stays)."""
        with self._lock:
            self._plan.extend(behaviours)

    def plan_for(self, prompt_contains: str, behaviour: FalBehaviour) -> None:
        with self._lock:
            self._plan_for.append((prompt_contains, behaviour))

    def reset(self) -> None:
        with self._lock:
            for state in (self.requests, self._by_id, self._plan, self._plan_for, self.calls):
                state.clear()
            self._submit_failures.clear()
            self.default = FalBehaviour()

    def record(self, request_id: str) -> FalRecord:
        with self._lock:
            return self._by_id[request_id]

    def submits_for(self, endpoint_id: str | None = None) -> list[FalRecord]:
        with self._lock:
            return [r for r in self.requests if endpoint_id in (None, r.endpoint_id)]

    def expire_media(self, request_id: str) -> None:
        with self._lock:
            self._by_id[request_id].expired = True

    def complete_now(self, request_id: str) -> None:
        with self._lock:
            rec = self._by_id[request_id]
            if rec.phase(time.monotonic()) != "COMPLETED":
                rec.forced_done_at = time.monotonic()

    # HTTP handlers

    async def _submit(self, request: web.Request) -> web.StreamResponse:
        if denied := self._deny(request, "submit"):
            return denied
        endpoint_id = request.match_info["endpoint"]
        try:
            arguments = await request.json()
        except ValueError:
            arguments = None
        if not isinstance(arguments, dict):
            item = _detail_item([], "Input should be a valid dictionary", "dict_type")
            return web.json_response({"detail": [item]}, status=422)
        behaviour, fail = self._pick(str(arguments.get("prompt", "")))
        if fail:
            return _submit_failure(behaviour.outcome)
        rec = FalRecord(
            request_id=str(uuid.uuid4()),
            endpoint_id=endpoint_id,
            arguments=arguments,
            headers={k.lower(): v for k, v in request.headers.items()},
            submitted_at=time.monotonic(),
            behaviour=behaviour,
            webhook_url=request.query.get("fal_webhook"),
        )
        rec.error = _validate(endpoint_id, arguments) or _scripted_error(behaviour)
        with self._lock:
            self.requests.append(rec)
            self._by_id[rec.request_id] = rec
        body = {"request_id": rec.request_id, **self._urls(rec)}
        body["queue_position"] = rec.queue_position(rec.submitted_at)
        return _json(rec, body)

    def _pick(self, prompt: str) -> tuple[FalBehaviour, bool]:
        """Choose the behaviour for a submit and whether this attempt fails at submit."""
        with self._lock:
            chosen = next((b for text, b in self._plan_for if text in prompt), None)
            from_plan = chosen is None and bool(self._plan)
            behaviour = chosen or (self._plan[0] if from_plan else self.default)
            fail = self._fails_submit(behaviour)
            # A retried submit (fail_times set) must meet the same planned behaviour again.
            if from_plan and not (fail and behaviour.fail_times is not None):
                self._plan.popleft()
            return behaviour, fail

    def _fails_submit(self, behaviour: FalBehaviour) -> bool:
        if behaviour.outcome not in SUBMIT_FAILURES:
            return False
        if behaviour.fail_times is None:
            return True
        _, count = self._submit_failures.get(id(behaviour), (behaviour, 0))
        self._submit_failures[id(behaviour)] = (behaviour, count + 1)
        return count < behaviour.fail_times

    async def _status(self, request: web.Request) -> web.StreamResponse:
        if denied := self._deny(request, "status"):
            return denied
        if (rec := self._find(request)) is None:
            return web.json_response({"detail": "Request not found"}, status=404)
        with_logs = request.query.get("logs", "false").lower() in ("true", "1")
        with self._lock:
            rec.status_calls += 1
            if self._rate_limited(rec, "status_429"):
                return _rate_limit(rec)
            return _json(rec, self._status_body(rec, time.monotonic(), with_logs))

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        """The status as server-sent events: one per change, until COMPLETED."""
        if denied := self._deny(request, "stream"):
            return denied
        if (rec := self._find(request)) is None:
            return web.json_response({"detail": "Request not found"}, status=404)
        with self._lock:
            rec.stream_calls += 1
            if not rec.behaviour.stream:
                return _json(rec, {"detail": "Not Found"}, status=404)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        response.headers["x-fal-request-id"] = rec.request_id
        await response.prepare(request)
        with_logs = request.query.get("logs", "false").lower() in ("true", "1")
        with contextlib.suppress(ConnectionResetError):  # the watcher went away
            await self._follow(rec, response, with_logs)
            await response.write_eof()
        return response

    async def _follow(self, rec: FalRecord, response: web.StreamResponse, with_logs: bool) -> None:
        sent = None
        while True:
            with self._lock:
                body = self._status_body(rec, time.monotonic(), with_logs)
            if body != sent:
                await response.write(f"data: {json.dumps(body)}\n\n".encode())
                sent = body
            if body["status"] == "COMPLETED" or rec.behaviour.stream_drops:
                return
            await asyncio.sleep(self._until_change(rec))

    def _until_change(self, rec: FalRecord) -> float:
        """Sleep until the status may change: the queue ticks down, the run ends."""
        now = time.monotonic()
        with self._lock:
            done = rec.done_at()
            queue_end = rec.submitted_at + rec.behaviour.queue_seconds
        if now < queue_end:
            return STREAM_TICK
        if done is None:
            return STREAM_IDLE
        # A forced completion or a cancel can come earlier: look again at least this often.
        return max(0.0, min(done - now, STREAM_IDLE))

    def _rate_limited(self, rec: FalRecord, outcome: str) -> bool:
        b = rec.behaviour
        if b.outcome != outcome or (b.fail_times is not None and rec.limited >= b.fail_times):
            return False
        rec.limited += 1
        return True

    def _status_body(self, rec: FalRecord, now: float, with_logs: bool) -> JSON:
        phase = rec.phase(now)
        body: JSON = {"status": phase, "request_id": rec.request_id, **self._urls(rec)}
        if phase == "IN_QUEUE":
            body["queue_position"] = rec.queue_position(now)
            return body
        body["logs"] = _logs(phase) if with_logs else []
        if phase == "COMPLETED":
            started = rec.submitted_at + rec.behaviour.queue_seconds
            inference = max(0.0, (rec.done_at() or now) - started)
            body["metrics"] = {} if rec.cancelled else {"inference_time": round(inference, 3)}
            if rec.cancelled:
                body.update(error="Request cancelled", error_type="request_cancelled")
            elif rec.error is not None:
                body.update(error=rec.error["msg"], error_type=rec.error["type"])
        return body

    async def _result(self, request: web.Request) -> web.StreamResponse:
        if denied := self._deny(request, "result"):
            return denied
        if (rec := self._find(request)) is None:
            return web.json_response({"detail": "Request not found"}, status=404)
        arrived = time.monotonic()
        with self._lock:
            rec.result_calls += 1
            if rec.result_asked_at is None:
                rec.result_asked_at = arrived
            early = self._result_refusal(rec)
        if early is not None:
            return early
        body = await self._produce(rec)
        units = rec.behaviour.billable_units
        extra = {} if units is None else {"x-fal-billable-units": str(units)}
        with self._lock:
            rec.serve_seconds += time.monotonic() - arrived
        return _json(rec, body, headers=extra)

    def _result_refusal(self, rec: FalRecord) -> web.Response | None:
        """The non-200 answers of a result fetch, or None when the images may be served."""
        if rec.cancelled:
            return _json(rec, {"detail": "Request was cancelled"}, status=400)
        if rec.phase(time.monotonic()) != "COMPLETED":
            return _json(rec, {"detail": "Request is still in progress"}, status=400)
        if self._rate_limited(rec, "result_429"):
            return _rate_limit(rec)
        if rec.error is not None:
            headers = {"X-Fal-Retryable": "false"}
            return _json(rec, {"detail": [rec.error]}, status=422, headers=headers)
        b = rec.behaviour
        if b.outcome == "result_500" and (
            b.fail_times is None or rec.result_failures < b.fail_times
        ):
            rec.result_failures += 1
            body = {"detail": "Internal Server Error", "error_type": "runner_server_error"}
            headers = {"X-Fal-Error-Type": "runner_server_error"}
            return _json(rec, body, status=500, headers=headers)
        return None

    async def _produce(self, rec: FalRecord) -> JSON:
        """Render the images once (off the loop: large ones take a while) and keep them."""
        if rec.result is None:
            rendered = await asyncio.to_thread(self._render, rec)
            with self._lock:
                if rec.result is None:
                    rec.media.update((meta["url"], data) for meta, data in rendered)
                    rec.image_urls = [meta["url"] for meta, _ in rendered]
                    rec.result = {"images": [meta for meta, _ in rendered]}
        return rec.result

    def _render(self, rec: FalRecord) -> list[tuple[JSON, bytes]]:
        args = rec.arguments
        width, height = _dimensions(args, rec.endpoint_id)
        fmt = args.get("output_format", "png")
        fmt = fmt if fmt in CHOICES["output_format"] else "png"
        count = args.get("num_images", 1)
        count = count if isinstance(count, int) and 1 <= count <= 4 else 1
        rendered = []
        for i in range(count):
            seed, size = f"{rec.request_id}/{i}", rec.behaviour.image_min_bytes
            png = padded_png(seed, width, height, size) if size else make_png(seed, width, height)
            data = _convert(png, fmt)
            name, content_type = f"{i}.{fmt}", f"image/{fmt}"
            url = f"{self.base_url}/cdn/{rec.request_id}/{name}"
            if args.get("sync_mode") is True:  # fal answers with data URIs instead of CDN URLs
                url = f"data:{content_type};base64,{base64.b64encode(data).decode()}"
            meta: JSON = {"url": url, "content_type": content_type, "file_name": name}
            meta.update(width=width, height=height, file_size=len(data))
            rendered.append((meta, data))
        return rendered

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        if denied := self._deny(request, "cancel"):
            return denied
        if (rec := self._find(request)) is None:
            return web.json_response({"status": "NOT_FOUND"}, status=404)
        with self._lock:
            now = time.monotonic()
            if rec.phase(now) != "IN_QUEUE":
                return _json(rec, {"status": "ALREADY_COMPLETED"}, status=400)
            rec.cancelled, rec.forced_done_at = True, now
        return _json(rec, {"status": "CANCELLATION_REQUESTED"}, status=202)

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        self._count("cdn")
        rid, name = request.match_info["rid"], request.match_info["name"]
        with self._lock:
            rec = self._by_id.get(rid)
            url = f"{self.base_url}/cdn/{rid}/{name}"
            data = None if rec is None or rec.expired else rec.media.get(url)
        if data is None:
            return web.json_response({"detail": "Not Found"}, status=404)
        response = web.Response(body=data, content_type="image/" + name.rpartition(".")[2])
        await response.prepare(request)
        await response.write_eof()
        assert rec is not None
        with self._lock:
            rec.serve_seconds += time.monotonic() - arrived
        return response

    # Helpers

    def _count(self, kind: str) -> None:
        with self._lock:
            self.calls[kind] += 1

    def _deny(self, request: web.Request, kind: str) -> web.Response | None:
        self._count(kind)
        if request.headers.get("Authorization") == f"Key {self.key}":
            return None
        return web.json_response({"detail": "Invalid or missing credentials"}, status=401)

    def _find(self, request: web.Request) -> FalRecord | None:
        """Look a request up under its owner/alias path, as fal does (not under /edit)."""
        with self._lock:
            rec = self._by_id.get(request.match_info["rid"])
        return rec if rec is not None and rec.app == request.match_info["app"] else None

    def _urls(self, rec: FalRecord) -> JSON:
        base = f"{self.base_url}/{rec.app}/requests/{rec.request_id}"
        return {"response_url": base} | {f"{k}_url": f"{base}/{k}" for k in ("status", "cancel")}


def _rate_limit(rec: FalRecord) -> web.Response:
    body = {"detail": "Too many requests", "error_type": "rate_limited"}
    return _json(rec, body, status=429, headers={"Retry-After": "1"})


def _json(
    rec: FalRecord, body: JSON, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        body, status=status, headers={"x-fal-request-id": rec.request_id, **(headers or {})}
    )


def _submit_failure(outcome: str) -> web.Response:
    if outcome == "locked":
        return web.json_response({"detail": LOCKED_DETAIL}, status=403)
    if outcome == "submit_503":
        # An ingress error: no x-fal-request-id, nginx page; fal_client retries these.
        return web.Response(text=NGINX_503, status=503, content_type="text/html")
    headers = {"x-fal-request-id": str(uuid.uuid4()), "X-Fal-Error-Type": "internal_error"}
    body = {"detail": "Internal Server Error", "error_type": "internal_error"}
    return web.json_response(body, status=500, headers=headers)


def _detail_item(loc: list[str], msg: str, kind: str, **ctx: str) -> JSON:
    item: JSON = {"loc": ["body", *loc], "msg": msg, "type": kind}
    item["url"] = f"https://docs.fal.ai/errors/#{kind}"
    if ctx:
        item["ctx"] = ctx
    return item


def _scripted_error(behaviour: FalBehaviour) -> JSON | None:
    if behaviour.outcome == "validation_error":
        return _detail_item(["prompt"], "Prompt was rejected by validation", "value_error")
    if behaviour.outcome == "content_policy":
        category = behaviour.content_policy_category
        msg = "The content could not be processed because it contained material flagged by a "
        msg += "content checker."
        return _detail_item(["prompt"], msg, "content_policy_violation", category=category)
    return None


def _validate(endpoint_id: str, args: JSON) -> JSON | None:
    """Check gpt-image-2 inputs the way fal's schema does; the first problem, or None."""
    if endpoint_id not in (GPT_IMAGE_2, f"{GPT_IMAGE_2}/edit"):
        return None
    problem = _field_problem(args, edit=endpoint_id.endswith("/edit"))
    return None if problem is None else _detail_item([problem[0]], problem[1], "value_error")


def _field_problem(args: JSON, *, edit: bool) -> tuple[str, str] | None:
    prompt = args.get("prompt")
    if not isinstance(prompt, str) or not 2 <= len(prompt) <= 32000:
        return "prompt", "Field required: a string of 2 to 32000 characters"
    for name, allowed in CHOICES.items():
        if name in args and args[name] not in allowed:
            return name, f"Input should be one of {', '.join(allowed)}"
    count = args.get("num_images", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 4:
        return "num_images", "Input should be an integer from 1 to 4"
    if "sync_mode" in args and not isinstance(args["sync_mode"], bool):
        return "sync_mode", "Input should be a valid boolean"
    if "image_size" in args and (msg := _size_problem(args["image_size"])):
        return "image_size", msg
    if edit:
        urls = args.get("image_urls")
        if not isinstance(urls, list) or not urls or not all(map(_is_image_url, urls)):
            return "image_urls", "Field required: a non-empty list of http(s) or data: URLs"
        if "mask_url" in args and not _is_image_url(args["mask_url"]):
            return "mask_url", "Input should be an http(s) or data: URL"
    return None


def _size_problem(size: object) -> str | None:
    if isinstance(size, str):
        return None if size in PRESETS else f"Input should be one of {', '.join(PRESETS)}"
    if not isinstance(size, dict):
        return "Input should be a preset name or an object with width and height"
    width, height = size.get("width"), size.get("height")
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        return "width and height should be positive integers"
    if width % 16 or height % 16:
        return "width and height must be multiples of 16"
    if max(width, height) > 3840:
        return "the longest side must be at most 3840 pixels"
    if max(width, height) > 3 * min(width, height):
        return "the aspect ratio must be at most 3:1"
    if not 655_360 <= width * height <= 8_294_400:
        return "the total number of pixels must be between 655360 and 8294400"
    return None


def _is_image_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://", "data:"))


def _dimensions(args: JSON, endpoint_id: str) -> tuple[int, int]:
    default = "auto" if endpoint_id.endswith("/edit") else "landscape_4_3"
    size = args.get("image_size", default)
    if isinstance(size, dict) and _size_problem(size) is None:
        return int(size["width"]), int(size["height"])
    return PRESETS.get(size, PRESETS["landscape_4_3"]) if isinstance(size, str) else (1024, 768)


def _convert(png: bytes, fmt: str) -> bytes:
    if fmt == "png":
        return png
    out = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(out, format=fmt.upper())
    return out.getvalue()


def _logs(phase: str) -> list[JSON]:
    stamp = datetime.now(UTC).isoformat()
    messages = ["Generating images"] + (["Images ready"] if phase == "COMPLETED" else [])
    return [{"message": m, "level": "INFO", "source": "user", "timestamp": stamp} for m in messages]


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)

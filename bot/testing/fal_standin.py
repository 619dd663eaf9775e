"""Loopback TLS stand-in for fal's queue API, so tests and benchmarks can drive the real fal_client.

It follows fal's queue protocol (shared/reference/fal.md): submit, status, result and cancel under
owner/alias URLs, `Authorization: Key` auth, fal's error shapes, and a CDN path serving real images.
Each request's state is derived from the time since submit, scripted by a `FalBehaviour`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
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

from aiohttp import web

from bot.testing.fal_models import (
    CHOICES,
    JSON,
    LOCKED_DETAIL,
    NGINX_503,
    STREAM_IDLE,
    STREAM_TICK,
    SUBMIT_FAILURES,
    FalBehaviour,
    FalRecord,
    convert,
    detail_item,
    dimensions,
    scripted_error,
    status_logs,
    validate,
)
from bot.testing.images import make_png, padded_png

__all__ = ["FalBehaviour", "FalRecord", "FalStandIn"]


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
            item = detail_item([], "Input should be a valid dictionary", "dict_type")
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
        rec.error = validate(endpoint_id, arguments) or scripted_error(behaviour)
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
        body["logs"] = status_logs(phase) if with_logs else []
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
        width, height = dimensions(args, rec.endpoint_id)
        fmt = args.get("output_format", "png")
        fmt = fmt if fmt in CHOICES["output_format"] else "png"
        count = args.get("num_images", 1)
        count = count if isinstance(count, int) and 1 <= count <= 4 else 1
        rendered = []
        for i in range(count):
            seed, size = f"{rec.request_id}/{i}", rec.behaviour.image_min_bytes
            png = padded_png(seed, width, height, size) if size else make_png(seed, width, height)
            data = convert(png, fmt)
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


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)

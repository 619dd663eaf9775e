"""Loopback TLS stand-in for fal's queue API and Platform API, so tests and benchmarks drive the
bot's fal client and the real fal_client against it.

It follows fal's queue protocol (shared/reference/fal.md): submit, status, result and cancel under
owner/alias URLs, `Authorization: Key` auth, fal's status codes and error shapes, and a CDN path
serving real images; the Platform API (bot.testing.fal.platform) is served from what it ran. Each
request's state is derived from the time since submit, scripted by a `FalBehaviour`. Where it is
stricter than fal (inputs outside the schema), it says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
import uuid
import weakref
from collections import Counter, deque
from typing import Any

from aiohttp import web

from bot.testing.fal.answers import (
    STOPPED,
    answer,
    follow,
    rate_limit,
    rate_limited,
    render,
    result_refusal,
    schema_refusal,
    status_body,
    submit_failure,
    units_header,
)
from bot.testing.fal.models import (
    JSON,
    STREAM_TICK,
    SUBMIT_FAILURES,
    UNIT_PRICES,
    FalBehaviour,
    FalRecord,
    detail_item,
    result_body,
    scripted_error,
    validate,
)
from bot.testing.fal.platform import billing_events
from bot.testing.fal.platform import routes as platform_routes
from bot.testing.fal.tls import forget_ca, loopback_tls
from bot.testing.fal.webhooks import RETRY_PAUSES, WebhookSigner, post, webhook_body
from bot.testing.loop_thread import LoopThread

__all__ = ["FalBehaviour", "FalRecord", "FalStandIn"]


class FalStandIn:
    """fal's queue API on https://127.0.0.1:PORT; set FAL_QUEUE_RUN_HOST to `netloc`."""

    def __init__(
        self,
        *,
        key: str = "test-fal-key",
        admin_key: str = "test-fal-admin-key",
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.key, self.admin_key, self.host, self.port = key, admin_key, host, port
        self._ssl, self.ca_path = loopback_tls()
        weakref.finalize(self, forget_ca, self.ca_path)
        self.lock = threading.RLock()
        self.default = FalBehaviour()
        self.requests: list[FalRecord] = []
        self.calls: Counter[str] = Counter()
        self.prices = dict(UNIT_PRICES)
        # Submits refused for inputs outside the endpoint's schema, and whether a test meant it.
        self.schema_errors: list[JSON] = []
        self.schema_errors_expected = False
        self._by_id: dict[str, FalRecord] = {}
        self._plan: deque[FalBehaviour] = deque()
        self._plan_for: list[tuple[str, FalBehaviour]] = []
        self._submit_failures: dict[int, tuple[FalBehaviour, int]] = {}
        self._runner: web.AppRunner | None = None
        self._thread = LoopThread("fal-standin")
        # The key fal signs webhooks with; its JWKS is served at `jwks_url`.
        self.signer = WebhookSigner()
        self._background: set[asyncio.Task[Any]] = set()

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"https://{self.netloc}"

    @property
    def api_url(self) -> str:
        """The Platform API's base (IMAGEBOT_FAL_API_URL)."""
        return f"{self.base_url}/v1"

    @property
    def jwks_url(self) -> str:
        """Where the webhook signing keys are published (IMAGEBOT_FAL_JWKS_URL)."""
        return f"{self.base_url}/.well-known/jwks.json"

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
        app.add_routes(platform_routes(self))
        app.add_routes(
            [
                web.get("/cdn/{rid}/{name}", self._cdn),
                web.get("/.well-known/jwks.json", self._jwks),
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
        for delivery in list(self._background):
            delivery.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start_in_thread(self) -> None:
        """Serve from a private event loop, so tests on any loop (or none) can use it."""
        self._thread.start(self.start, 30)

    def stop_in_thread(self) -> None:
        """Stop serving, then end what is left (status streams nobody reads any more)."""
        self._thread.stop(self.stop, 30)

    # Scripting and inspection (safe to call from any thread)

    def plan(self, *behaviours: FalBehaviour) -> None:
        """Queue behaviours, one per accepted submit (a failing submit with fail_times stays)."""
        with self.lock:
            self._plan.extend(behaviours)

    def plan_for(self, prompt_contains: str, behaviour: FalBehaviour) -> None:
        with self.lock:
            self._plan_for.append((prompt_contains, behaviour))

    def reset(self) -> None:
        with self.lock:
            for state in (self.requests, self._by_id, self._plan, self._plan_for, self.calls):
                state.clear()
            self._submit_failures.clear()
            self.schema_errors.clear()
            self.schema_errors_expected = False
            self.prices = dict(UNIT_PRICES)
            self.default = FalBehaviour()

    def unexpected_schema_errors(self) -> list[JSON]:
        """Submits refused for their inputs that no test asked for."""
        with self.lock:
            return [] if self.schema_errors_expected else list(self.schema_errors)

    def record(self, request_id: str) -> FalRecord:
        with self.lock:
            return self._by_id[request_id]

    def submits_for(self, endpoint_id: str | None = None) -> list[FalRecord]:
        with self.lock:
            return [r for r in self.requests if endpoint_id in (None, r.endpoint_id)]

    def billing_events(self) -> list[JSON]:
        """fal's billing record as the Platform API would list it."""
        return billing_events(self)

    def expire_media(self, request_id: str) -> None:
        with self.lock:
            self._by_id[request_id].expired = True

    def complete_now(self, request_id: str) -> None:
        with self.lock:
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
        if problems := validate(endpoint_id, arguments):
            with self.lock:
                self.schema_errors.append(
                    {"endpoint_id": endpoint_id, "arguments": arguments, "detail": problems}
                )
            return schema_refusal(problems)
        behaviour, fail = self._pick(str(arguments.get("prompt", "")))
        if fail:
            return submit_failure(behaviour.outcome)
        rec = FalRecord(
            request_id=str(uuid.uuid4()),
            endpoint_id=endpoint_id,
            arguments=arguments,
            headers={k.lower(): v for k, v in request.headers.items()},
            submitted_at=time.monotonic(),
            behaviour=behaviour,
            webhook_url=request.query.get("fal_webhook"),
        )
        rec.error = scripted_error(behaviour)
        with self.lock:
            self.requests.append(rec)
            self._by_id[rec.request_id] = rec
            dropped = behaviour.outcome == "submit_drop" and self._fails_submit(behaviour)
        if dropped:
            # Queued at fal, but the answer never reaches the caller (a connection lost on the
            # way back): the case fal's lack of an idempotency key makes costly.
            assert request.transport is not None
            request.transport.abort()
            raise ConnectionResetError("the stand-in dropped the submit's answer")
        if behaviour.render_early:
            self._keep(asyncio.create_task(self._produce(rec)))
        if rec.webhook_url:
            self._keep(asyncio.create_task(self._send_webhook(rec)))
        if behaviour.submit_delay:
            await asyncio.sleep(behaviour.submit_delay)
        body = {"request_id": rec.request_id, **self._urls(rec)}
        body["queue_position"] = rec.queue_position(rec.submitted_at)
        return answer(rec, body)

    def _keep(self, task: asyncio.Task[Any]) -> None:
        """Work that goes on after an answer; cancelled when the stand-in stops."""
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _pick(self, prompt: str) -> tuple[FalBehaviour, bool]:
        """Choose the behaviour for a submit and whether this attempt fails at submit."""
        with self.lock:
            chosen = next((b for text, b in self._plan_for if text in prompt), None)
            from_plan = chosen is None and bool(self._plan)
            behaviour = chosen or (self._plan[0] if from_plan else self.default)
            fail = behaviour.outcome in SUBMIT_FAILURES and self._fails_submit(behaviour)
            # A retried submit (fail_times set) must meet the same planned behaviour again.
            if from_plan and not (fail and behaviour.fail_times is not None):
                self._plan.popleft()
            return behaviour, fail

    def _fails_submit(self, behaviour: FalBehaviour) -> bool:
        if behaviour.outcome not in (*SUBMIT_FAILURES, "submit_drop"):
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
        with self.lock:
            rec.status_calls += 1
            if rate_limited(rec, "status_429"):
                return rate_limit(rec)
            body = status_body(rec, time.monotonic(), with_logs, self._urls(rec))
        # 202 while the request is queued or in progress, 200 once it is complete (fal's queue
        # API reference, "Get request status").
        return answer(
            rec, body, status=202 if body["status"] in ("IN_QUEUE", "IN_PROGRESS") else 200
        )

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        """The status as server-sent events: one per change, until COMPLETED."""
        if denied := self._deny(request, "stream"):
            return denied
        if (rec := self._find(request)) is None:
            return web.json_response({"detail": "Request not found"}, status=404)
        with self.lock:
            rec.stream_calls += 1
            if not rec.behaviour.stream:
                return answer(rec, {"detail": "Not Found"}, status=404)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        response.headers["x-fal-request-id"] = rec.request_id
        await response.prepare(request)
        with_logs = request.query.get("logs", "false").lower() in ("true", "1")
        with contextlib.suppress(ConnectionResetError):  # the watcher went away
            await follow(rec, response, with_logs, self.lock, self._urls(rec))
            await response.write_eof()
        return response

    async def _result(self, request: web.Request) -> web.StreamResponse:
        if denied := self._deny(request, "result"):
            return denied
        if (rec := self._find(request)) is None:
            return web.json_response({"detail": "Request not found"}, status=404)
        arrived = time.monotonic()
        with self.lock:
            rec.result_calls += 1
            if rec.result_asked_at is None:
                rec.result_asked_at = arrived
            early = result_refusal(rec)
        if early is not None:
            return early
        body = await self._produce(rec)
        with self.lock:
            rec.serve_seconds += time.monotonic() - arrived
        return answer(rec, body, headers=units_header(rec.units))

    async def _produce(self, rec: FalRecord) -> JSON:
        """Render the images once (off the loop: large ones take a while) and keep them."""
        if rec.result is None:
            rendered = await asyncio.to_thread(render, rec, self.base_url)
            with self.lock:
                if rec.result is None:
                    rec.media.update((meta["url"], data) for meta, data in rendered)
                    rec.image_urls = [meta["url"] for meta, _ in rendered]
                    rec.result = result_body(rec, [meta for meta, _ in rendered])
        return rec.result

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        if denied := self._deny(request, "cancel"):
            return denied
        if (rec := self._find(request)) is None:
            return web.json_response({"status": "NOT_FOUND"}, status=404)
        with self.lock:
            now = time.monotonic()
            rec.cancel_calls += 1
            if rec.behaviour.start_on_cancel and rec.started_at is None:
                rec.started_at = now  # a runner took it just as the cancel came
            phase = rec.phase(now)
            if phase == "COMPLETED":
                return answer(rec, {"status": "ALREADY_COMPLETED"}, status=400)
            # Queued: "fal removes it" and it is never processed. In progress: fal signals the
            # runner and the app decides (fal's "Cancel a request", "Handle cancellations").
            # Either way the answer is 202 CANCELLATION_REQUESTED.
            if phase == "IN_QUEUE":
                rec.cancelled, rec.started_at, rec.forced_done_at = True, None, now
            elif rec.behaviour.on_cancel == "stop":
                rec.cancelled, rec.stopped, rec.forced_done_at = True, True, now
        return answer(rec, {"status": "CANCELLATION_REQUESTED"}, status=202)

    async def _jwks(self, request: web.Request) -> web.StreamResponse:
        self._count("jwks")
        # fal's JWKS needs no credentials (the docs' samples fetch it without any).
        return web.json_response(self.signer.jwks())

    async def _send_webhook(self, rec: FalRecord) -> None:
        """POST the webhook once the request is done; retry a failed delivery. Each attempt is
        signed anew: fal retries for up to 2 hours and the receiver refuses timestamps older
        than 5 minutes, so a retry cannot carry the first attempt's signature."""
        if not await self._until_done(rec) or rec.behaviour.webhook == "drop":
            return
        payload, error = await self._webhook_payload(rec)
        body = webhook_body(rec.request_id, payload, error)
        url = rec.webhook_url or ""
        for pause in (*RETRY_PAUSES, None):
            headers = self.signer.headers(rec.request_id, body)
            status = await post(url, body, headers)
            with self.lock:
                rec.webhook_answers.append(status)
            if 200 <= status < 300 or 300 <= status < 400 or pause is None:
                break
            await asyncio.sleep(pause)
            if not await self._until_done(rec):
                return
        if rec.behaviour.webhook == "replay":
            status = await post(url, body, headers)
            with self.lock:
                rec.webhook_answers.append(status)

    async def _until_done(self, rec: FalRecord) -> bool:
        """Wait for the request to complete; False once it is forgotten (a reset)."""
        while True:
            with self.lock:
                if self._by_id.get(rec.request_id) is not rec:
                    return False
                if rec.phase(time.monotonic()) == "COMPLETED":
                    return True
            await asyncio.sleep(STREAM_TICK)

    async def _webhook_payload(self, rec: FalRecord) -> tuple[JSON | None, str | None]:
        """The output for a success; for a failure, fal's message naming the status code the
        result would have, with the result's error detail as the payload (fal's webhook docs,
        "Response errors": `"error": "Invalid status code: 422"`, `payload: {"detail": …}`)."""
        with self.lock:
            failure: tuple[int, JSON] | None = None
            if rec.stopped:
                failure = 499, {"detail": STOPPED}
            elif rec.cancelled:
                failure = 400, {"detail": "Request was cancelled"}
            elif rec.error is not None:
                failure = 422, {"detail": [rec.error]}
            elif rec.behaviour.outcome == "result_500":
                failure = 500, {"detail": "Internal Server Error"}
        if failure is not None:
            return failure[1], f"Invalid status code: {failure[0]}"
        return await self._produce(rec), None

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        self._count("cdn")
        rid, name = request.match_info["rid"], request.match_info["name"]
        with self.lock:
            rec = self._by_id.get(rid)
            url = f"{self.base_url}/cdn/{rid}/{name}"
            data = None if rec is None or rec.expired else rec.media.get(url)
        if data is None:
            return web.json_response({"detail": "Not Found"}, status=404)
        response = web.Response(body=data, content_type="image/" + name.rpartition(".")[2])
        await response.prepare(request)
        await response.write_eof()
        assert rec is not None
        with self.lock:
            rec.serve_seconds += time.monotonic() - arrived
        return response

    # Helpers

    def _count(self, kind: str) -> None:
        with self.lock:
            self.calls[kind] += 1

    def _deny(self, request: web.Request, kind: str) -> web.Response | None:
        self._count(kind)
        if request.headers.get("Authorization") == f"Key {self.key}":
            return None
        return web.json_response({"detail": "Invalid or missing credentials"}, status=401)

    def _find(self, request: web.Request) -> FalRecord | None:
        """Look a request up under its owner/alias path, as fal does (not under /edit)."""
        with self.lock:
            rec = self._by_id.get(request.match_info["rid"])
        return rec if rec is not None and rec.app == request.match_info["app"] else None

    def _urls(self, rec: FalRecord) -> JSON:
        base = f"{self.base_url}/{rec.app}/requests/{rec.request_id}"
        return {"response_url": base} | {f"{k}_url": f"{base}/{k}" for k in ("status", "cancel")}

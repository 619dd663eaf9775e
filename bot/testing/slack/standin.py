"""Loopback stand-in for Slack's Web API, for tests and the offline demo (plain HTTP, 127.0.0.1).

Point the real client at it: ``AsyncWebClient(token=standin.bot_token, base_url=standin.api_url)``.
It speaks Slack's protocol and error shapes: HTTP 200 with ``{"ok": true, ...}`` or
``{"ok": false, "error": ...}``; HTTP 429 + ``Retry-After`` for injected rate limits; HTTP 5xx for
injected server errors (optionally after doing the work, as Slack warns can happen). It checks
every ``blocks`` and ``view`` against Block Kit's limits (bot.testing.slack.blocks), shares a
completed upload into its conversation only after ``share_delay`` seconds, serves the raw upload
URLs of ``files_upload_v2``, private file downloads (``url_private``: a 302 to a CDN path that
wants the token too, or an HTML sign-in page without the token, as Slack does) and
``response_url`` capability URLs (5 uses within 30 minutes). Every request is recorded for
assertions; all state is guarded by one lock, so tests may read it from any thread while the
server runs in another.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import secrets
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

from aiohttp import web

from bot.testing.loop_thread import LoopThread
from bot.testing.slack.faults import FaultInjection
from bot.testing.slack.functions import FUNCTION_METHODS, FunctionRun, FunctionRuns
from bot.testing.slack.hosting import FileHosting, ResponseUrl
from bot.testing.slack.methods import METHODS
from bot.testing.slack.models import (
    Call,
    Channel,
    Download,
    Fault,
    JSONDict,
    ResponsePost,
    SlackError,
    Upload,
    User,
    ViewCall,
)
from bot.testing.slack.protocol import (
    Answer,
    bearer,
    fault_answer,
    read_args,
)
from bot.testing.slack.setup import WorkspaceSetup
from bot.testing.slack.socket_mode import SocketHub
from bot.testing.slack.workspace import PendingShare, Workspace

__all__ = ["Call", "Channel", "Download", "ResponsePost", "SlackStandIn", "Upload", "User"]

T = TypeVar("T")

MAX_BODY = 200 * 1024 * 1024
# A completed upload shows in its conversation after about a second (python-slack-sdk#1521).
SHARE_DELAY_SECONDS = 0.5


class SlackStandIn(WorkspaceSetup, FaultInjection, FileHosting):
    """A Slack workspace behind a loopback HTTP server; see the module docstring."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test-token",
        app_token: str = "xapp-test-token",
        team_id: str = "T0TEST",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        host: str = "127.0.0.1",
        port: int = 0,
        share_delay: float = SHARE_DELAY_SECONDS,
        redirect_files: bool = True,
    ) -> None:
        self.bot_token = bot_token
        self.share_delay = share_delay
        # Slack often answers a private file URL with a 302 to its file CDN, whose hop wants
        # the token too (curie-eng/curie#2715, openclaw/openclaw#63523); False serves directly.
        self.redirect_files = redirect_files
        # Where that redirect points; tests may send it to another host.
        self.cdn_base: str | None = None
        self.app_token = app_token
        self.socket = SocketHub()
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._ws = Workspace(team_id=team_id, bot_user_id=bot_user_id, bot_id=bot_id)
        self._calls: list[Call] = []
        self._responses: list[ResponsePost] = []
        self._downloads: list[Download] = []
        self._faults: list[Fault] = []
        self._response_keys: dict[str, ResponseUrl] = {}
        self._functions = FunctionRuns()
        self._sharing = 0
        self._runner: web.AppRunner | None = None
        self._thread = LoopThread("slack-standin")
        self._ws.users[bot_user_id] = User(bot_user_id, "imagebot", team_id, is_bot=True)
        self.add_channel("C0GENERAL", "general")
        self.add_user("U0ALICE", "alice", real_name="Alice Example")
        self.add_user("U0BOB", "bob", real_name="Bob Example")

    # ----- identity and addresses

    @property
    def bot_user_id(self) -> str:
        return self._ws.bot_user_id

    @property
    def bot_id(self) -> str:
        return self._ws.bot_id

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    # ----- lifecycle

    async def start(self) -> None:
        """Serve on the current event loop; ``port`` is the bound port afterwards."""
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        app.router.add_get("/files-pri/{team_file}/download/{name}", self._handle_file)
        app.router.add_get("/files-pri/{team_file}/{name}", self._handle_file)
        app.router.add_get("/files-cdn/{team_file}/{name}", self._handle_cdn)
        app.router.add_post("/respond/{key}", self._handle_respond)
        app.router.add_get("/socket", self.socket.handle)
        # Stalled answers are not worth waiting for when the stand-in shuts down.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, self.host, self.port).start()
        self.port = int(runner.addresses[0][1])
        self._runner = runner
        with self._lock:
            self._ws.base_url = self.base_url

    async def stop(self) -> None:
        await self.socket.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def start_in_thread(self, timeout: float = 15.0) -> None:
        """Serve from a background thread with its own event loop (for sync code and demos)."""
        self._thread.start(self.start, timeout)

    def stop_in_thread(self, timeout: float = 15.0) -> None:
        self._thread.stop(self.stop, timeout)

    async def __aenter__(self) -> SlackStandIn:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ----- capabilities minted for payloads

    def trigger_id(self, ttl: float | None = 3.0) -> str:
        """A fresh trigger id for views.open; usable once, within ``ttl`` seconds (as Slack)."""
        with self._lock:
            return self._ws.mint_trigger(ttl)

    def function_executed(
        self, callback_id: str, inputs: JSONDict, function: JSONDict, app_id: str
    ) -> JSONDict:
        """Start a run of a custom step; the `function_executed` event to deliver for it
        (bot.testing.slack.functions)."""
        with self._lock:
            return self._functions.start(callback_id, inputs, function, app_id)

    @property
    def function_runs(self) -> list[FunctionRun]:
        with self._lock:
            return [dataclasses.replace(run) for run in self._functions.runs.values()]

    def response_url(self, key: str | None = None) -> str:
        key = key or secrets.token_hex(12)
        with self._lock:
            self._response_keys.setdefault(key, ResponseUrl(self._ws.now()))
        return f"{self.base_url}/respond/{key}"

    def advance(self, seconds: float) -> None:
        """Move the stand-in's clock on: response_urls and trigger ids age without waiting."""
        with self._lock:
            self._ws.clock_offset += seconds

    # ----- recordings

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [call for call in self._calls if call.method == method]

    def most_in_a_minute(self, method: str, keep: Callable[[Call], bool] = lambda _: True) -> int:
        """The most calls to `method` (those `keep` accepts) that arrived within any one
        minute: Slack counts each Web API method's rate limit per minute per workspace
        (docs.slack.dev/apis/web-api/rate-limits; `chat.update` is Tier 3, 50+ a minute)."""
        times = sorted(call.time for call in self.calls_to(method) if keep(call))
        start, most = 0, 0
        for end, moment in enumerate(times):
            while moment - times[start] >= 60.0:
                start += 1
            most = max(most, end - start + 1)
        return most

    @property
    def uploads(self) -> list[Upload]:
        with self._lock:
            return [dataclasses.replace(upload) for upload in self._ws.uploads.values()]

    @property
    def files(self) -> list[JSONDict]:
        """Every file the workspace holds (deleted ones gone), as files.info shows them."""
        with self._lock:
            return [self._ws.file_object(stored) for stored in self._ws.files.values()]

    @property
    def responses(self) -> list[ResponsePost]:
        with self._lock:
            return list(self._responses)

    @property
    def views(self) -> list[ViewCall]:
        with self._lock:
            return list(self._ws.views)

    @property
    def ephemerals(self) -> list[JSONDict]:
        with self._lock:
            return copy.deepcopy(self._ws.ephemerals)

    @property
    def downloads(self) -> list[Download]:
        with self._lock:
            return list(self._downloads)

    async def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 15.0,
        interval: float = 0.02,
    ) -> T:
        """Poll ``predicate`` until it returns something truthy; return that value."""
        deadline = time.monotonic() + timeout
        while not (result := predicate()):
            if time.monotonic() >= deadline:
                raise TimeoutError(self._timeout_message(timeout))
            await asyncio.sleep(interval)
        return result

    def wait_for_sync(
        self, predicate: Callable[[], T], timeout: float = 15.0, interval: float = 0.02
    ) -> T:
        """Like wait_for, for code outside the stand-in's event loop (blocks this thread)."""
        deadline = time.monotonic() + timeout
        while not (result := predicate()):
            if time.monotonic() >= deadline:
                raise TimeoutError(self._timeout_message(timeout))
            time.sleep(interval)
        return result

    def _timeout_message(self, timeout: float) -> str:
        recent = ", ".join(f"{c.method}->{c.error or c.status}" for c in self.calls[-10:])
        return f"condition not met within {timeout}s; recent calls: [{recent}]"

    def reset(self) -> None:
        """Forget messages, files, recordings and faults; keep users and channels."""
        with self._lock:
            self._ws.clear()
            self._calls.clear()
            self._responses.clear()
            self._downloads.clear()
            self._faults.clear()
            self._response_keys.clear()
            self._functions.runs.clear()

    # ----- HTTP: Web API methods

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        arrived = time.monotonic()
        try:
            args = await read_args(request)
        except ValueError:
            args, bad_body = {}, True
        else:
            bad_body = False
        token = bearer(request) or args.pop("token", None)
        with self._lock:
            status, body, headers = (
                (200, {"ok": False, "error": "invalid_json"}, {})
                if bad_body
                else self._answer(method, args, token)
            )
            error, took = body.get("error"), time.monotonic() - arrived
            self._calls.append(
                Call(method, copy.deepcopy(args), arrived, token, status, error, took)
            )
            stall = self._take_fault(method, "stall")
            self._schedule_shares()
        if stall is not None:
            await asyncio.sleep(stall.delay)
        return web.json_response(body, status=status, headers=headers)

    def _schedule_shares(self) -> None:
        """Post the messages of completed uploads after the share delay (lock held)."""
        loop = asyncio.get_running_loop()
        for pending in self._ws.pending_shares:
            loop.call_later(self.share_delay, self._share, pending)
            self._sharing += 1
        self._ws.pending_shares.clear()

    def _share(self, pending: PendingShare) -> None:
        with self._lock:
            self._sharing -= 1
            if pending.clearing == self._ws.clearings:
                self._ws.complete_share(pending)

    @property
    def shares_pending(self) -> int:
        """Completed uploads whose messages are not in their conversations yet."""
        with self._lock:
            return self._sharing

    def _answer(self, method: str, args: JSONDict, token: str | None) -> Answer:
        if method == "apps.connections.open":  # the one method called with the app token
            if token != self.app_token:
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            return 200, {"ok": True, "url": self.base_url.replace("http", "ws", 1) + "/socket"}, {}
        if method in FUNCTION_METHODS:  # called with a run's workflow token, not the bot's
            return self._functions.answer(method, args, token)
        handler = METHODS.get(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if token != self.bot_token:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        fault = self._take_fault(method)
        if fault is not None and not fault.landed:
            return fault_answer(fault)
        try:
            answer: Answer = (200, {"ok": True, **handler(self._ws, args)}, {})
        except SlackError as exc:
            errors = {"errors": [exc.detail]} if exc.detail else {}
            answer = (200, {"ok": False, "error": exc.error, **errors}, {})
        return fault_answer(fault) if fault is not None else answer

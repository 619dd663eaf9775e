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
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar
from urllib.parse import quote

from aiohttp import web

from bot.testing.slack.methods import METHODS
from bot.testing.slack.models import (
    Call,
    Channel,
    Download,
    Fault,
    JSONDict,
    ResponsePost,
    SlackError,
    StoredFile,
    Upload,
    User,
    ViewCall,
)
from bot.testing.slack.protocol import (
    LOGIN_PAGE,
    Answer,
    bearer,
    fault_answer,
    read_args,
    read_payload,
    read_upload,
)
from bot.testing.slack.socket_mode import SocketHub
from bot.testing.slack.workspace import PendingShare, Workspace

__all__ = ["Call", "Channel", "Download", "ResponsePost", "SlackStandIn", "Upload", "User"]

T = TypeVar("T")

UPLOAD_TARGET = "<upload>"
MAX_BODY = 200 * 1024 * 1024
# A response_url takes 5 answers within 30 minutes (Slack: "Handling user interaction").
MAX_RESPONSE_URL_USES = 5
RESPONSE_URL_SECONDS = 30 * 60
# A completed upload shows in its conversation after about a second (python-slack-sdk#1521).
SHARE_DELAY_SECONDS = 0.5


@dataclass
class ResponseUrl:
    minted: float
    uses: int = 0


class SlackStandIn:
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
        self._sharing = 0
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ws.users[bot_user_id] = User(bot_user_id, "imagebot", team_id, is_bot=True)
        self.add_channel("C0GENERAL", "general")
        self.add_user("U0ALICE", "alice", real_name="Alice Example")
        self.add_user("U0BOB", "bob", real_name="Bob Example")

    # ----- identity and addresses

    @property
    def team_id(self) -> str:
        return self._ws.team_id

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
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
            ready.set()
            if not failure:
                loop.run_forever()
            loop.close()

        thread = threading.Thread(target=run, name="slack-standin", daemon=True)
        thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("the Slack stand-in did not start in time")
        if failure:
            raise failure[0]
        self._loop, self._thread = loop, thread

    def stop_in_thread(self, timeout: float = 15.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._loop = self._thread = None

    async def __aenter__(self) -> SlackStandIn:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ----- workspace set-up

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        is_private: bool = False,
        is_im: bool = False,
        user: str | None = None,
        bot_is_member: bool = True,
    ) -> Channel:
        channel = Channel(channel_id, name, is_private, is_im, user, is_member=bot_is_member)
        with self._lock:
            self._ws.channels[channel_id] = channel
        return channel

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        is_admin: bool = False,
        is_owner: bool = False,
        tz: str = "UTC",
        real_name: str | None = None,
    ) -> User:
        user = User(user_id, name, self.team_id, is_admin, is_owner, tz, real_name)
        with self._lock:
            self._ws.users[user_id] = user
        return user

    def archive_channel(self, channel_id: str) -> None:
        with self._lock:
            self._ws.channels[channel_id].is_archived = True

    def set_bot_member(self, channel_id: str, is_member: bool) -> None:
        """Invite the bot (``/invite``) or remove it from a channel."""
        with self._lock:
            self._ws.channels[channel_id].is_member = is_member

    def host_file(
        self,
        data: bytes,
        *,
        name: str,
        mimetype: str,
        filetype: str | None = None,
        user: str = "U0ALICE",
        title: str | None = None,
    ) -> JSONDict:
        """Register a file a person shared; returns its Slack file object for message events."""
        with self._lock:
            stored = self._ws.store_file(
                data, name=name, user=user, title=title, mimetype=mimetype, filetype=filetype
            )
            return self._ws.file_object(stored)

    def add_message(
        self,
        channel: str,
        text: str = "",
        *,
        user: str = "U0ALICE",
        thread_ts: str | None = None,
        files: list[JSONDict] | None = None,
        blocks: list[JSONDict] | None = None,
        metadata: JSONDict | None = None,
    ) -> JSONDict:
        """Store a message a person posted (so the history/replies APIs see it); returns it."""
        message: JSONDict = {"user": user, "text": text, "blocks": blocks, "metadata": metadata}
        if files:
            message.update(files=copy.deepcopy(files), upload=True)
        with self._lock:
            stored = self._ws.post(self._ws.channels[channel], message, thread_ts)
            return copy.deepcopy(stored)

    # ----- reading the message store

    def messages(self, channel: str) -> list[JSONDict]:
        """All stored messages of a channel (top level and replies), oldest first."""
        with self._lock:
            return copy.deepcopy(self._ws.channels[channel].messages)

    def thread(self, channel: str, ts: str) -> list[JSONDict]:
        """The parent message and its replies, oldest first; empty when ``ts`` is unknown."""
        with self._lock:
            try:
                return copy.deepcopy(self._ws.thread(self._ws.channels[channel], ts))
            except SlackError:
                return []

    def im_with(self, user: str) -> str:
        """The id of the bot's DM with `user` (opened if need be)."""
        with self._lock:
            return self._ws.open_im(user)[0].id

    def channel(self, channel_id: str) -> Channel:
        with self._lock:
            return copy.deepcopy(self._ws.channels[channel_id])

    # ----- capabilities minted for payloads

    def trigger_id(self, ttl: float | None = 3.0) -> str:
        """A fresh trigger id for views.open; usable once, within ``ttl`` seconds (as Slack)."""
        with self._lock:
            return self._ws.mint_trigger(ttl)

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

    # ----- fault injection

    def fail(self, method: str, error: str = "not_in_channel", times: int | None = 1) -> None:
        self._add_fault(Fault(method, "error", times, error=error))

    def rate_limit(self, method: str, retry_after: int = 1, times: int | None = 1) -> None:
        self._add_fault(Fault(method, "ratelimit", times, retry_after=retry_after))

    def server_error(
        self, method: str, status: int = 500, times: int | None = 1, *, landed: bool = False
    ) -> None:
        """Answer ``status``; with ``landed`` only after doing what was asked, as Slack may."""
        self._add_fault(Fault(method, "server", times, status=status, landed=landed))

    def fail_upload(self, times: int | None = 1) -> None:
        """Answer the raw upload URL with HTTP 500 the next ``times`` times."""
        self._add_fault(Fault(UPLOAD_TARGET, "server", times, status=500))

    def stall(self, method: str, seconds: float, times: int | None = 1) -> None:
        """Do what the method does, then hold the answer back for ``seconds``: the caller
        cannot tell whether it landed (a lost reply, a process killed mid-call)."""
        self._add_fault(Fault(method, "stall", times, retry_after=0, delay=seconds))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Forget messages, files, recordings and faults; keep users and channels."""
        with self._lock:
            self._ws.clear()
            self._calls.clear()
            self._responses.clear()
            self._downloads.clear()
            self._faults.clear()
            self._response_keys.clear()

    def _add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, target: str, kind: str | None = None) -> Fault | None:
        """The first live fault for ``target`` (answers, or stalls when ``kind`` is "stall"),
        used once (call with the lock held)."""
        stalls = kind == "stall"
        found = next(
            (
                f
                for f in self._faults
                if f.target == target and (f.kind == "stall") == stalls and f.consume()
            ),
            None,
        )
        self._faults = [f for f in self._faults if f.remaining is None or f.remaining > 0]
        return found

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

    # ----- HTTP: upload URL, private files, response_url

    async def _handle_upload(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        data = await read_upload(request)
        with self._lock:
            status, text = self._store_upload(request.match_info["file_id"], data)
            upload = self._ws.uploads.get(request.match_info["file_id"])
            if upload is not None:
                upload.seconds += time.monotonic() - arrived
        return web.Response(status=status, text=text, content_type="text/plain")

    def _store_upload(self, file_id: str, data: bytes) -> tuple[int, str]:
        upload = self._ws.uploads.get(file_id)
        if upload is not None:
            upload.attempts += 1
        fault = self._take_fault(UPLOAD_TARGET)
        if fault is not None:
            return fault.status, "Internal Server Error"
        if upload is None or upload.completed:
            return 404, "Not Found"
        if len(data) != upload.length:
            return 400, f"length mismatch: declared {upload.length}, received {len(data)}"
        upload.data, upload.uploaded = data, True
        return 200, f"OK - {len(data)}"

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        team_file, name = request.match_info["team_file"], request.match_info["name"]
        if not self.redirect_files:
            return self._serve_file(team_file, name, bearer(request), "file")
        token = bearer(request)
        with self._lock:
            stored = self._stored_file(team_file, name)
            granted = stored is not None and token == self.bot_token
            self._downloads.append(Download(stored.id if stored else team_file, token, granted))
            base = self.cdn_base or self.base_url
        if stored is None:
            return web.Response(status=404, text="<html>Not found</html>", content_type="text/html")
        if not granted:
            return web.Response(text=LOGIN_PAGE, content_type="text/html")
        location = f"{base}/files-cdn/{team_file}/{quote(name, safe='')}?t={secrets.token_hex(6)}"
        raise web.HTTPFound(location)

    async def _handle_cdn(self, request: web.Request) -> web.StreamResponse:
        return self._serve_file(
            request.match_info["team_file"], request.match_info["name"], bearer(request), "cdn"
        )

    def _serve_file(
        self, team_file: str, name: str, token: str | None, hop: str
    ) -> web.StreamResponse:
        with self._lock:
            stored = self._stored_file(team_file, name)
            granted = stored is not None and token == self.bot_token
            file_id = stored.id if stored else team_file
            self._downloads.append(Download(file_id, token, granted, hop=hop))
        if stored is None:
            return web.Response(status=404, text="<html>Not found</html>", content_type="text/html")
        if not granted:
            return web.Response(text=LOGIN_PAGE, content_type="text/html")
        return web.Response(body=stored.data, content_type=stored.mimetype)

    def _stored_file(self, team_file: str, name: str) -> StoredFile | None:
        stored = self._ws.file_by_path(team_file)
        return stored if stored is not None and stored.name == name else None

    async def _handle_respond(self, request: web.Request) -> web.StreamResponse:
        body = await read_payload(request)
        auth = request.headers.get("Authorization")
        with self._lock:
            status, text = self._record_response(request.match_info["key"], body, auth)
        return web.Response(status=status, text=text, content_type="text/plain")

    def _record_response(
        self, key: str, body: JSONDict | None, auth: str | None
    ) -> tuple[int, str]:
        status, text = 200, "ok"
        url = self._response_keys.get(key)
        if url is None:
            status, text = 404, "no_service"
        elif self._ws.now() - url.minted > RESPONSE_URL_SECONDS:
            status, text = 404, "expired_url"
        elif url.uses >= MAX_RESPONSE_URL_USES:
            status, text = 404, "used_url"
        elif body is None:
            status, text = 400, "invalid_payload"
        elif not (body.get("text") or body.get("blocks") or body.get("delete_original")):
            status, text = 400, "no_text"
        else:
            url.uses += 1
        self._responses.append(ResponsePost(key, body, time.monotonic(), auth, status))
        return status, text

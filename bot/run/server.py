"""Running the bot: Bolt's aiohttp server in HTTP mode (with /healthz) or Socket Mode, a start
that fails fast with one line naming the cause, and a clean stop on SIGTERM or SIGINT in every
state (even while still connecting) that finishes requests in flight and leaves every job
resumable."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import signal
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from slack_bolt.app.async_server import AsyncSlackAppServer
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.app import Services
from bot.run.socket_mode import BackoffSocketModeHandler, describe
from bot.run.webhook import WebhookRoute
from bot.slack.client import SlackError

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
# SIGTERM must end the process within 10 s: requests in flight get 3 s, listeners 2 s more,
# running jobs 2 s to reach a point they resume from (they are cancelled where they wait).
STOP_HTTP_SECONDS = 3.0
STOP_LISTENERS_SECONDS = 2.0
STOP_JOBS_SECONDS = 2.0
# A start gives up within 5 s: Slack gets this long to answer auth.test.
SLACK_CHECK_SECONDS = 4.0
HEALTH_FILE_SECONDS = 15.0
_REJECTED = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked"})


class StartError(Exception):
    """The bot cannot start; the message is one line naming the cause."""


@web.middleware
async def refuse_malformed(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bolt parses a body before it checks the signature and fails with a 500 on one that is
    not JSON or a form; a malformed request is the sender's fault: 400."""
    try:
        return await handler(request)
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        log.warning("malformed request refused path=%s error=%s", request.path, type(exc).__name__)
        return web.json_response({"error": "malformed request"}, status=400)


def http_app(app: AsyncApp, services: Services) -> web.Application:
    """Bolt's own aiohttp application, plus a health check."""
    server = AsyncSlackAppServer(port=0, path=EVENTS_PATH, app=app)
    server.web_app.middlewares.append(refuse_malformed)

    async def healthz(_: web.Request) -> web.Response:
        checks = await services.healthy()
        status = 200 if all(checks.values()) else 503
        return web.json_response({"ok": status == 200, **checks}, status=status)

    server.web_app.router.add_get("/healthz", healthz)
    if services.webhooks is not None:
        WebhookRoute(services.webhooks, services.runner).add_to(server.web_app)
        url = services.settings.fal_webhook_url
        log.info("fal webhooks on: requests are submitted with %s", url)
    return server.web_app


async def check_slack(services: Services) -> None:
    """auth.test with the bot token: a wrong token or an unreachable Slack stops the start."""
    url = services.settings.slack_api_url
    try:
        async with asyncio.timeout(SLACK_CHECK_SECONDS):
            await services.slack.auth_test()
    except TimeoutError:
        raise StartError(
            f"Slack at {url} did not answer within {SLACK_CHECK_SECONDS:.0f} s"
        ) from None
    except SlackError as exc:
        if exc.code in _REJECTED:
            raise StartError(
                f"Slack rejected SLACK_BOT_TOKEN ({exc.code}): copy the Bot User OAuth Token"
                " (xoxb-...) from your Slack app's OAuth & Permissions page"
            ) from None
        if exc.code.startswith("request_failed"):
            raise StartError(f"cannot reach Slack at {url} ({_reason(exc.code)})") from None
        raise StartError(f"Slack's auth.test failed at {url}: {exc.code}") from None
    services.slack_seen(True)


_REASONS = {
    "ConnectionRefused": "connection refused",
    "Name or service not known": "unknown host",
    "Temporary failure in name resolution": "unknown host",
    "CERTIFICATE_VERIFY_FAILED": "its TLS certificate is not trusted",
    "Timeout": "timed out",
}


def _reason(code: str) -> str:
    """What went wrong on the wire, in a few words (SlackOut keeps the client's repr)."""
    detail = code.removeprefix("request_failed: ")
    return next((words for key, words in _REASONS.items() if key in detail), detail[:120])


class BotServer:
    """The bot taking requests, in HTTP mode on host:port or over Socket Mode."""

    def __init__(
        self,
        app: AsyncApp,
        services: Services,
        *,
        http: bool,
        host: str = "0.0.0.0",
        port: int = 3000,
    ) -> None:
        self.app = app
        self.services = services
        self.http = http
        self.host = host
        self.port = port
        self._web: web.AppRunner | None = None
        self._socket: BackoffSocketModeHandler | None = None
        self._heartbeat: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Check Slack, take the port (HTTP) or the app token (Socket Mode), resume the jobs,
        then take requests. Raises StartError with the cause; `stop()` cleans up after it."""
        await check_slack(self.services)
        if self.http:
            await self._listen()
        else:
            await self._open_socket()
        await self.services.runner.resume()
        self.services.maintenance.start()
        if self._socket is not None:
            await self._socket.connect_async()
        self.services.ready = True
        if self.services.settings.health_file is not None:
            self._heartbeat = asyncio.create_task(self._write_health(), name="health-file")

    async def _listen(self) -> None:
        self._web = web.AppRunner(
            http_app(self.app, self.services), shutdown_timeout=STOP_HTTP_SECONDS
        )
        await self._web.setup()
        try:
            await web.TCPSite(self._web, self.host, self.port).start()
        except OSError as exc:
            raise StartError(_listen_problem(self.host, self.port, exc)) from None
        self.port = _bound_port(self._web, self.port)
        log.info("imagebot listening on http://%s:%d%s", self.host, self.port, EVENTS_PATH)

    async def _open_socket(self) -> None:
        token = self.services.settings.slack_app_token
        self._socket = BackoffSocketModeHandler(self.app, token.get_secret_value() if token else "")
        try:
            async with asyncio.timeout(SLACK_CHECK_SECONDS):
                await self._socket.client.open_url()
        except SlackApiError as exc:
            code = str(exc.response.get("error", "error"))
            if code in _REJECTED:
                raise StartError(
                    f"Slack rejected SLACK_APP_TOKEN ({code}): create an app-level token with"
                    " connections:write under Basic Information, App-Level Tokens"
                ) from None
            raise StartError(f"Slack refused a Socket Mode connection: {code}") from None
        except TimeoutError:
            raise StartError(
                f"Slack did not open a Socket Mode connection within {SLACK_CHECK_SECONDS:.0f} s"
            ) from None
        except Exception as exc:
            raise StartError(f"cannot open a Socket Mode connection ({describe(exc)})") from None

    async def health(self) -> dict[str, Any]:
        checks: dict[str, Any] = dict(await self.services.healthy())
        if self._socket is not None:
            checks["socket"] = await self._socket.client.is_connected()
        return checks

    async def _write_health(self) -> None:
        """Socket Mode has no port: `imagebot health` reads this file (HTTP mode: its URL)."""
        path = self.services.settings.health_file
        assert path is not None
        mode = {"mode": "http", "url": self.health_url} if self.http else {"mode": "socket"}
        while True:
            checks = await self.health()
            state = {"ok": all(checks.values()), **checks, **mode, "at": self.services.now()}
            await asyncio.to_thread(_write_atomically, path, json.dumps(state, default=str))
            await asyncio.sleep(HEALTH_FILE_SECONDS)

    @property
    def health_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}/healthz"

    async def stop(self) -> None:
        """Stop taking work; requests in flight finish, jobs stay resumable. Safe to call in
        any state a start may have stopped in."""
        self.services.ready = False
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        if self._socket is not None:
            await self._socket.close_async()
        if self._web is not None:
            await self._web.cleanup()
        await self.services.inflight.drain(STOP_LISTENERS_SECONDS)
        await self.services.close(jobs_grace=STOP_JOBS_SECONDS)


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def _listen_problem(host: str, port: int, exc: OSError) -> str:
    where = f"cannot listen on {host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return f"{where}: the port is in use (is another imagebot running? try --port)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{where}: this machine has no such address (check --host)"
    if exc.errno == errno.EACCES:
        return f"{where}: permission denied (ports below 1024 need privileges)"
    return f"{where}: {exc.strerror or exc}"


def _bound_port(runner: web.AppRunner, default: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    return default


async def serve(server: BotServer) -> None:
    """Run until SIGTERM or SIGINT, which also end a start still under way. A failed start
    raises StartError once everything it opened is closed."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    starting = asyncio.create_task(server.start(), name="start")
    stopping = asyncio.create_task(stop.wait(), name="stop-signal")
    try:
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()
            await stopping
            log.info("stopping: finishing requests in flight; unfinished jobs resume at next start")
        else:
            log.info("stopping before the start finished")
    finally:
        for task in (starting, stopping):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await server.stop()

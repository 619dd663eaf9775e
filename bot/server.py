"""Running the bot: Bolt's aiohttp server in HTTP mode (with /healthz) or Socket Mode, and a
clean stop on SIGTERM that finishes requests in flight and leaves every job resumable."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from slack_bolt.app.async_server import AsyncSlackAppServer
from slack_bolt.async_app import AsyncApp

from bot.app import Services

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
# SIGTERM must end the process within 10 s: requests in flight get 3 s, listeners 2 s more,
# running jobs 2 s to reach a point they resume from (they are cancelled where they wait).
STOP_HTTP_SECONDS = 3.0
STOP_LISTENERS_SECONDS = 2.0
STOP_JOBS_SECONDS = 2.0


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
    return server.web_app


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
        self._socket: Any = None

    async def start(self) -> None:
        await self.services.runner.resume()
        self.services.maintenance.start()
        if self.http:
            self._web = web.AppRunner(
                http_app(self.app, self.services), shutdown_timeout=STOP_HTTP_SECONDS
            )
            await self._web.setup()
            await web.TCPSite(self._web, self.host, self.port).start()
            self.port = _bound_port(self._web, self.port)
            log.info("imagebot listening on http://%s:%d%s", self.host, self.port, EVENTS_PATH)
        else:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            token = self.services.settings.slack_app_token
            self._socket = AsyncSocketModeHandler(
                self.app, token.get_secret_value() if token else ""
            )
            await self._socket.connect_async()
            log.info("imagebot connected to Slack over Socket Mode")
        self.services.ready = True

    async def stop(self) -> None:
        """Stop taking work; requests in flight finish, jobs stay resumable."""
        self.services.ready = False
        if self._socket is not None:
            await self._socket.close_async()
        if self._web is not None:
            await self._web.cleanup()
        await self.services.inflight.drain(STOP_LISTENERS_SECONDS)
        await self.services.close(jobs_grace=STOP_JOBS_SECONDS)


def _bound_port(runner: web.AppRunner, default: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    return default


async def serve(server: BotServer) -> None:
    """Run until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await server.start()
    await stop.wait()
    log.info("stopping: finishing requests in flight; unfinished jobs resume on the next start")
    await server.stop()

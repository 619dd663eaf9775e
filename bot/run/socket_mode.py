"""Socket Mode with a connection that backs off: Bolt's handler on a slack-sdk client whose
connect() tries once at a time, logs one line per failed attempt and waits longer before the
next (1 s doubling to a minute).

slack-sdk's own aiohttp client retries forever every 10 s with a full traceback per attempt,
and keeps retrying a WebSocket URL that may have expired (slack_sdk/socket_mode/aiohttp
`SocketModeClient.connect`). Stopping works in every state: `close()` marks the client closed
and cancels the tasks that may be waiting here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0


def retry_delays(
    first: float = FIRST_RETRY_SECONDS, most: float = MAX_RETRY_SECONDS
) -> Iterator[float]:
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, most)


def describe(exc: BaseException) -> str:
    """One line about a failed attempt, without a traceback."""
    if isinstance(exc, SlackApiError):
        return f"Slack answered {exc.response.get('error', 'an error')}"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


class BackoffSocketModeClient(SocketModeClient):
    async def open_url(self) -> str:
        """A fresh WebSocket URL from `apps.connections.open` (it names the app token's app)."""
        response = await self.web_client.apps_connections_open(app_token=self.app_token)
        return str(response["url"])

    async def connect(self) -> None:
        delays = retry_delays()
        while not self.closed:
            try:
                await self._connect_once()
                return
            except Exception as exc:
                if self.closed:
                    return
                delay = next(delays)
                log.warning(
                    "Socket Mode: cannot connect to Slack (%s); trying again in %.0f s",
                    describe(exc),
                    delay,
                )
                await asyncio.sleep(delay)

    async def disconnect(self) -> None:
        """Close the connection, if there is one (a bot stopped before connecting has none)."""
        if self.current_session is not None:
            await self.current_session.close()

    async def connect_to_new_endpoint(self, force: bool = False) -> None:
        async with self.connect_operation_lock:
            if force or not await self.is_connected():
                await self.connect()

    async def _connect_once(self) -> None:
        # The session monitor must not start a reconnection of its own meanwhile.
        self.auto_reconnect_enabled = False
        old, self.current_session = self.current_session, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close()
        if self.aiohttp_client_session.closed:
            self.aiohttp_client_session = aiohttp.ClientSession()
        self.wss_uri = await self.open_url()
        session = await self.aiohttp_client_session.ws_connect(
            self.wss_uri,
            autoping=False,
            heartbeat=self.ping_interval,
            proxy=self.proxy,
            ssl=self.web_client.ssl if self.web_client.ssl is not None else True,
        )
        self.current_session = session
        await session.ping(f"sdk-ping-pong:{time.time()}".encode())
        self.auto_reconnect_enabled = self.default_auto_reconnect_enabled
        self.stale = False
        # Last, with no await after it: the monitor calling this may be one of these tasks.
        for task in (self.current_session_monitor, self.message_receiver):
            if task is not None:
                task.cancel()
        self.current_session_monitor = asyncio.ensure_future(self.monitor_current_session())
        self.message_receiver = asyncio.ensure_future(self.receive_messages())
        log.info("connected to Slack over Socket Mode")


class BackoffSocketModeHandler(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler on the back-off client."""

    client: BackoffSocketModeClient

    def __init__(self, app: AsyncApp, app_token: str) -> None:
        # Not the parent's __init__: it would open a second client (and its session) to drop.
        self.app = app
        self.app_token = app_token
        self.client = BackoffSocketModeClient(
            app_token=app_token, logger=app.logger, web_client=app.client
        )
        listener: Any = self.handle
        self.client.socket_mode_request_listeners.append(listener)

    async def connect_async(self) -> None:
        await self.client.connect()

    async def close_async(self) -> None:
        client: Any = self.client  # slack-sdk's close() has no annotations
        await client.close()

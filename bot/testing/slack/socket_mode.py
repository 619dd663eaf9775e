"""Slack's Socket Mode end of the stand-in: a WebSocket that hands envelopes (slash commands,
events, interactions) to a connected app and collects the app's acknowledgements."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

JSONDict = dict[str, Any]


@dataclass
class Envelope:
    envelope_id: str
    kind: str
    payload: JSONDict
    ack: JSONDict | None = None
    acked: asyncio.Event = field(default_factory=asyncio.Event)


class SocketHub:
    """What Slack does in Socket Mode: greet a connection with `hello`, send envelopes, wait
    for each `{"envelope_id": ...}` acknowledgement (with an optional response payload)."""

    def __init__(self) -> None:
        self._sockets: list[web.WebSocketResponse] = []
        self._connected = asyncio.Event()
        self.envelopes: dict[str, Envelope] = {}

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(heartbeat=30)
        await socket.prepare(request)
        hello = {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0IMAGEBOT"}}
        await socket.send_str(json.dumps(hello))
        self._sockets.append(socket)
        self._connected.set()
        try:
            async for message in socket:
                if message.type == WSMsgType.TEXT:
                    self._acknowledged(json.loads(message.data))
        finally:
            self._sockets.remove(socket)
            if not self._sockets:
                self._connected.clear()
        return socket

    def _acknowledged(self, message: JSONDict) -> None:
        envelope = self.envelopes.get(str(message.get("envelope_id")))
        if envelope is not None and not envelope.acked.is_set():
            envelope.ack = message
            envelope.acked.set()

    async def wait_connected(self, timeout: float = 15.0) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def send(
        self, kind: str, payload: JSONDict, *, retry_attempt: int = 0, timeout: float = 10.0
    ) -> Envelope:
        """Deliver one envelope to the first connection and wait for its acknowledgement."""
        await self.wait_connected(timeout)
        envelope = Envelope(secrets.token_hex(8), kind, payload)
        self.envelopes[envelope.envelope_id] = envelope
        message = {
            "envelope_id": envelope.envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": retry_attempt,
            "retry_reason": "timeout" if retry_attempt else "",
        }
        await self._sockets[0].send_str(json.dumps(message))
        await asyncio.wait_for(envelope.acked.wait(), timeout)
        return envelope

    async def close(self) -> None:
        for socket in list(self._sockets):
            with contextlib.suppress(ConnectionError):
                await socket.close()

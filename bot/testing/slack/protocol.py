"""HTTP plumbing of the loopback Slack stand-in: reading Slack-style requests, fault answers."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import BodyPartReader, web

from bot.testing.slack.models import Fault, JSONDict, decode_json_args

#: (HTTP status, JSON body, extra headers) of one Web API answer.
Answer = tuple[int, JSONDict, dict[str, str]]

SERVER_ERRORS = {500: "internal_error", 503: "service_unavailable"}
LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Slack</title></head>"
    "<body><h1>Sign in to your workspace</h1></body></html>"
)


def fault_answer(fault: Fault) -> Answer:
    if fault.kind == "ratelimit":
        headers = {"Retry-After": str(fault.retry_after)}
        return 429, {"ok": False, "error": "ratelimited"}, headers
    if fault.kind == "server":
        error = SERVER_ERRORS.get(fault.status, "internal_error")
        return fault.status, {"ok": False, "error": error}, {}
    return 200, {"ok": False, "error": fault.error}, {}


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


async def read_args(request: web.Request) -> JSONDict:
    """Query-string, form-encoded, multipart and JSON arguments, merged (body wins)."""
    args: JSONDict = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("JSON body is not an object")
            args.update(body)
        else:
            form = await request.post()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
    return decode_json_args(args)


async def read_upload(request: web.Request) -> bytes:
    """The uploaded bytes: a raw body (as slack_sdk sends it) or the first multipart file."""
    if not request.content_type.startswith("multipart/"):
        return await request.read()
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if isinstance(part, BodyPartReader) and part.filename is not None:
            return bytes(await part.read(decode=False))
    return b""


async def read_payload(request: web.Request) -> JSONDict | None:
    """A response_url body: JSON, or a form with a JSON ``payload`` field."""
    try:
        if request.content_type == "application/json":
            body: Any = await request.json()
        else:
            body = json.loads(str((await request.post()).get("payload", "")))
    except ValueError:
        return None
    return body if isinstance(body, dict) else None

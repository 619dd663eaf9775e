"""fal's Platform API as the stand-in serves it: request history, billing events and unit
prices, each taken from what the stand-in actually ran.

Paths, parameters and shapes follow fal's Platform API reference
(docs.fal.ai/platform-apis/v1/models/requests/by-endpoint, .../billing-events, .../pricing;
the public OpenAPI description in jentic-public-apis `apis/openapi/fal.ai/main/v1/openapi.json`):
`Authorization: Key`, ids comma-separated (1 to 50), ISO 8601 `start` (inclusive, default 24
hours ago) and `end` (exclusive, default now), a cursor that encodes the page number, and
errors as `{"error": {"type", "message"}}`. Billing events need an admin key; history and
prices take any key of the account.
"""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from aiohttp import web

from bot.testing.fal.models import JSON, FalRecord
from bot.testing.fal.schemas import ENDPOINTS

MAX_IDS = 50
MAX_HISTORY_PAGE = 100  # "limit defaults to 50, max 100" (requests/by-endpoint)
MAX_BILLING_PAGE = 10_000  # "Limited to 10000 records per page" (billing-events)
MAX_RANGE = timedelta(days=90)  # "Date range capped at 90 days per request" (billing-events)


class Account(Protocol):
    """What the Platform API reads of the stand-in: the account's keys, what it ran, prices."""

    key: str
    admin_key: str
    requests: list[FalRecord]
    calls: Counter[str]
    prices: dict[str, Decimal]

    @property
    def lock(self) -> AbstractContextManager[Any]: ...


class _Refused(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


def routes(standin: Account) -> list[web.RouteDef]:
    def handle(serve: Callable[[Account, web.Request], JSON], admin: bool) -> Any:
        async def handler(request: web.Request) -> web.Response:
            standin.calls["platform"] += 1
            try:
                _authorise(standin, request, admin=admin)
                return web.json_response(serve(standin, request))
            except _Refused as refused:
                body = {"error": {"type": refused.kind, "message": refused.message}}
                return web.json_response(body, status=refused.status)

        return handler

    return [
        web.get("/v1/models/requests/by-endpoint", handle(_history, admin=False)),
        web.get("/v1/models/billing-events", handle(_billing_events, admin=True)),
        web.get("/v1/models/pricing", handle(_pricing, admin=False)),
    ]


def _authorise(standin: Account, request: web.Request, *, admin: bool) -> None:
    given = request.headers.get("Authorization", "")
    keys = {f"Key {standin.admin_key}"} | (set() if admin else {f"Key {standin.key}"})
    if given in keys:
        return
    if given == f"Key {standin.key}":
        raise _Refused(403, "authorization_error", "This endpoint requires an admin API key")
    raise _Refused(401, "authorization_error", "Authentication required")


def _history(standin: Account, request: web.Request) -> JSON:
    endpoints = _ids(request, "endpoint_id", required=True)
    start, end = _range(request)
    wanted = _ids(request, "request_id")
    payloads = "payloads" in _ids(request, "expand")
    now = time.monotonic()
    with standin.lock:
        chosen = [
            r
            for r in standin.requests
            if r.endpoint_id in endpoints
            and start <= r.sent_at < end
            and (not wanted or r.request_id in wanted)
        ]
        items = [_history_item(r, now, payloads) for r in chosen]
    return _page(request, items, "items", MAX_HISTORY_PAGE, 50)


def _history_item(rec: FalRecord, now: float, payloads: bool) -> JSON:
    done = rec.done_at() if rec.phase(now) == "COMPLETED" else None
    item: JSON = {
        "request_id": rec.request_id,
        "endpoint_id": rec.endpoint_id,
        "sent_at": _iso(rec.sent_at),
        "started_at": _iso(rec.wall(rec.started_at)) if rec.ran(now) and rec.started_at else None,
        "ended_at": None if done is None else _iso(rec.wall(done)),
        "status_code": None if done is None else (422 if rec.error else 200),
        "duration": None if done is None else round(done - rec.submitted_at, 3),
    }
    if payloads:
        item["json_input"] = rec.arguments
        item["json_output"] = rec.result
    return item


def _billing_events(standin: Account, request: web.Request) -> JSON:
    start, end = _range(request)
    if end - start > MAX_RANGE:
        raise _Refused(400, "validation_error", "Date range cannot exceed 90 days")
    endpoints = _ids(request, "endpoint_id")
    wanted = _ids(request, "request_id")
    events = [
        e
        for e in billing_events(standin)
        if (not endpoints or e["endpoint_id"] in endpoints)
        and (not wanted or e["request_id"] in wanted)
        and start <= e["at"] < end
    ]
    for event in events:
        del event["at"]
    return _page(request, events, "billing_events", MAX_BILLING_PAGE, 50)


def billing_events(standin: Account) -> list[JSON]:
    """What fal has billed so far, newest first: one event per request that billed units
    (`at`, the event's time as a datetime, is the stand-in's own)."""
    now = time.monotonic()
    events = []
    with standin.lock:
        for rec in standin.requests:
            units, done = rec.billed(now), rec.done_at()
            if units is not None and done is not None:
                events.append(_event(rec, units, rec.wall(done), standin.prices))
    return sorted(events, key=lambda e: e["at"], reverse=True)


def _event(rec: FalRecord, units: Decimal, stamp: datetime, prices: dict[str, Decimal]) -> JSON:
    endpoint = rec.billed_endpoint
    price = prices.get(endpoint, Decimal("0"))
    return {
        "at": stamp,
        "request_id": rec.request_id,
        "endpoint_id": endpoint,
        "timestamp": _iso(stamp),
        "output_units": float(units),
        "unit_price": float(price),
        "percent_discount": None,
        "cost_estimate_nano_usd": int(units * price * 10**9),
    }


def _pricing(standin: Account, request: web.Request) -> JSON:
    endpoints = _ids(request, "endpoint_id", required=True)
    prices = [
        {"endpoint_id": e, "unit_price": float(standin.prices[e]), "unit": _unit(e),
         "currency": "USD"}
        for e in endpoints
        if e in standin.prices
    ]  # fmt: skip
    return {"prices": prices, "next_cursor": None, "has_more": False}


def _ids(request: web.Request, name: str, *, required: bool = False) -> set[str]:
    """Repeated or comma-separated values (`?endpoint_id=a,b` or `?endpoint_id=a&endpoint_id=b`)."""
    found = {part for value in request.query.getall(name, []) for part in value.split(",") if part}
    if required and not found:
        raise _Refused(400, "validation_error", f"{name} is required")
    if len(found) > MAX_IDS:
        raise _Refused(400, "validation_error", f"at most {MAX_IDS} values of {name}")
    return found


def _range(request: web.Request) -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    start = _time(request.query.get("start")) or now - timedelta(hours=24)
    end = _time(request.query.get("end")) or now
    return start, end


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _Refused(400, "validation_error", f"{value!r} is not an ISO 8601 date") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _page(request: web.Request, items: Sequence[JSON], key: str, most: int, default: int) -> JSON:
    try:
        limit = min(most, max(1, int(request.query.get("limit", default))))
        cursor = request.query.get("cursor")
        page = int(base64.b64decode(cursor).decode()) if cursor else 1
    except ValueError:
        raise _Refused(400, "validation_error", "bad limit or cursor") from None
    chunk = list(items[(page - 1) * limit : page * limit])
    more = page * limit < len(items)
    next_cursor = base64.b64encode(str(page + 1).encode()).decode() if more else None
    return {key: chunk, "next_cursor": next_cursor, "has_more": more}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _unit(endpoint_id: str) -> str:
    """The unit fal's pricing API names: "image", "megapixels", or plain units (of USD)."""
    spec = ENDPOINTS.get(endpoint_id)
    return {"image": "image", "megapixel": "megapixels"}.get(spec.unit if spec else "", "units")

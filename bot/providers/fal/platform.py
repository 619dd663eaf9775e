"""fal's Platform API: the request history, billing events and unit prices fal keeps.

Base URL `IMAGEBOT_FAL_API_URL` (https://api.fal.ai/v1), `Authorization: Key <FAL_ADMIN_KEY>`,
else FAL_KEY (billing events need an admin key). Paths, parameters and shapes follow fal's
Platform API reference (docs.fal.ai/platform-apis/v1/models/requests/by-endpoint,
.../billing-events, .../pricing) and its public OpenAPI description (jentic-public-apis
`apis/openapi/fal.ai/main/v1/openapi.json`): cursor pagination (`next_cursor`, `has_more`),
ISO 8601 `start` (inclusive) and `end` (exclusive), up to 50 endpoint or request ids a call.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from bot.domain.failures import ErrorKind
from bot.domain.usd import to_micros
from bot.providers.base import ProviderError
from bot.providers.catalog import Catalog
from bot.providers.fal.wire import with_retries

log = logging.getLogger("bot.providers.fal.queue")

# fal caps billing-event ranges at 90 days a call; requests/by-endpoint pages hold 100 at most.
RANGE_DAYS = 30
PAGE_SIZE = 100
IDS_PER_CALL = 50


class PlatformError(ProviderError):
    """The Platform API refused or failed; `status` 401/403 means the key may not read it."""

    kind = ErrorKind.PLATFORM

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class HistoryItem:
    """One request in fal's request history (inputs only with expand=payloads)."""

    request_id: str
    endpoint_id: str
    sent_at: datetime | None
    status_code: int | None
    json_input: dict[str, Any] | None


@dataclass(frozen=True)
class BillingEvent:
    """What fal billed for one request."""

    request_id: str
    endpoint_id: str
    timestamp: datetime
    units: Decimal
    unit_price: Decimal
    percent_discount: Decimal | None
    cost_nano_usd: int | None

    @property
    def cost_micros(self) -> int:
        """fal's own figure (nano-dollars, rounded up to whole micros), else units x price."""
        if self.cost_nano_usd is not None:
            return math.ceil(self.cost_nano_usd / 1000)
        usd = self.units * self.unit_price
        if self.percent_discount:
            usd *= 1 - self.percent_discount / 100
        return to_micros(usd)


class FalPlatform:
    def __init__(self, base_url: str, key: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            headers={"Authorization": f"Key {key}"}, timeout=httpx.Timeout(timeout, connect=10.0)
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def requests(
        self,
        endpoint_ids: Sequence[str],
        start: datetime,
        end: datetime,
        *,
        request_id: str | None = None,
    ) -> list[HistoryItem]:
        """Requests sent to the endpoints in [start, end), with their inputs."""
        params: dict[str, str] = {"endpoint_id": ",".join(endpoint_ids), "expand": "payloads"}
        params |= {"start": _iso(start), "end": _iso(end), "limit": str(PAGE_SIZE)}
        if request_id is not None:
            params["request_id"] = request_id
        pages = self._pages("/models/requests/by-endpoint", params, "items")
        return [_history_item(item) async for item in pages]

    async def billing_events(
        self,
        start: datetime,
        end: datetime,
        *,
        endpoint_ids: Sequence[str] = (),
        request_ids: Sequence[str] = (),
    ) -> list[BillingEvent]:
        """fal's billing events in [start, end) (for these endpoints or requests)."""
        found: list[BillingEvent] = []
        id_batches = [
            request_ids[i : i + IDS_PER_CALL] for i in range(0, len(request_ids), IDS_PER_CALL)
        ]
        for window_start, window_end in _windows(start, end):
            for ids in id_batches or [()]:
                params = {"start": _iso(window_start), "end": _iso(window_end), "limit": "1000"}
                if endpoint_ids:
                    params["endpoint_id"] = ",".join(endpoint_ids)
                if ids:
                    params["request_id"] = ",".join(ids)
                pages = self._pages("/models/billing-events", params, "billing_events")
                found += [_billing_event(item) async for item in pages]
        return found

    async def unit_prices(self, endpoint_ids: Sequence[str]) -> dict[str, Decimal]:
        params = {"endpoint_id": ",".join(endpoint_ids)}
        prices = {}
        async for item in self._pages("/models/pricing", params, "prices"):
            if str(item.get("currency", "USD")).upper() == "USD":
                prices[str(item["endpoint_id"])] = _decimal(item.get("unit_price"))
        return prices

    async def _pages(
        self, path: str, params: dict[str, str], key: str
    ) -> AsyncIterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            query = params | ({"cursor": cursor} if cursor else {})
            body = await self._get(path, query)
            for item in body.get(key) or []:
                if isinstance(item, dict):
                    yield item
            cursor = body.get("next_cursor")
            if not body.get("has_more") or not cursor:
                return

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        url = self.base_url + path
        try:
            # Few tries: a job waits on a unit price, and the table stands in for it.
            response = await with_retries(lambda: self._http.get(url, params=params), tries=3)
        except ProviderError as exc:
            raise PlatformError(f"fal's Platform API could not be reached: {exc.detail}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            message = error.get("message") if isinstance(error, dict) else response.text[:200]
            raise PlatformError(
                f"fal's Platform API answered {response.status_code} to {path}: {message}",
                status=response.status_code,
            )
        return body


class UnitPrices:
    """Unit prices from fal's pricing API, kept a day; the price table when fal will not say
    (no key that may read it, or no answer), asking again an hour later."""

    def __init__(
        self,
        platform: FalPlatform | None,
        table: Catalog,
        *,
        keep_seconds: float = 86_400.0,
        retry_seconds: float = 3_600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.platform = platform
        self.table = table
        self.keep_seconds = keep_seconds
        self.retry_seconds = retry_seconds
        self.clock = clock
        self._known: dict[str, tuple[Decimal, float]] = {}
        self._lock = asyncio.Lock()

    async def unit_price(self, endpoint_id: str) -> Decimal:
        async with self._lock:
            known = self._known.get(endpoint_id)
            if known is None or self.clock() >= known[1]:
                known = await self._fetch(endpoint_id)
                self._known[endpoint_id] = known
            return known[0]

    async def cost_micros(self, endpoint_id: str, units: Decimal) -> int:
        return to_micros(units * await self.unit_price(endpoint_id))

    async def _fetch(self, endpoint_id: str) -> tuple[Decimal, float]:
        fallback = self.table.unit_price(endpoint_id)
        if self.platform is None:
            return fallback, math.inf
        try:
            prices = await self.platform.unit_prices([endpoint_id])
        except PlatformError as exc:
            log.warning("unit price of %s from the price table: %s", endpoint_id, exc.message)
            return fallback, self.clock() + self.retry_seconds
        price = prices.get(endpoint_id)
        if price is None:
            log.warning("fal lists no USD price for %s: using the price table", endpoint_id)
            return fallback, self.clock() + self.retry_seconds
        return price, self.clock() + self.keep_seconds


def _windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    windows, step = [], timedelta(days=RANGE_DAYS)
    while start < end:
        windows.append((start, min(end, start + step)))
        start += step
    return windows


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _decimal(value: object) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise PlatformError(f"fal's Platform API sent {value!r:.40} as a number") from None
    if not number.is_finite() or number < 0:
        raise PlatformError(f"fal's Platform API sent {value!r:.40} as an amount")
    return number


def _history_item(item: dict[str, Any]) -> HistoryItem:
    payload = item.get("json_input")
    status = item.get("status_code")
    return HistoryItem(
        request_id=str(item.get("request_id") or ""),
        endpoint_id=str(item.get("endpoint_id") or ""),
        sent_at=parse_time(item.get("sent_at")),
        status_code=status if isinstance(status, int) else None,
        json_input=payload if isinstance(payload, dict) else None,
    )


def _billing_event(item: dict[str, Any]) -> BillingEvent:
    discount = item.get("percent_discount")
    nano = item.get("cost_estimate_nano_usd")
    return BillingEvent(
        request_id=str(item.get("request_id") or ""),
        endpoint_id=str(item.get("endpoint_id") or ""),
        timestamp=parse_time(item.get("timestamp")) or datetime.now(UTC),
        units=_decimal(item.get("output_units", 0)),
        unit_price=_decimal(item.get("unit_price", 0)),
        percent_discount=None if discount is None else _decimal(discount),
        cost_nano_usd=int(nano) if isinstance(nano, int | float) else None,
    )

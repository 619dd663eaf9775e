"""fal's answers as the bot reads them: retries of what may pass, error bodies mapped to the
provider's errors, and the bill in `x-fal-billable-units`, which any answer may carry."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from bot.providers.base import (
    AccountLocked,
    ContentPolicy,
    InvalidInput,
    ProviderError,
    RequestLost,
    Unavailable,
)

log = logging.getLogger("bot.providers.fal.queue")

RETRY_STATUSES = frozenset({408, 409, 429, 502, 503, 504})
UNITS_HEADER = "x-fal-billable-units"


async def with_retries(
    attempt: Callable[[], Awaitable[httpx.Response]],
    *,
    tries: int = 6,
    base_delay: float = 0.5,
    max_delay: float = 8.0,
) -> httpx.Response:
    """Retry what fal says may pass (429, 408, 409, gateway 5xx) and lost connections.

    Only for calls that are safe to repeat (reads and cancels); a submit is never retried
    blindly, since fal's queue would take it twice.
    """
    for number in range(1, tries + 1):
        last = number == tries
        try:
            response = await attempt()
        except httpx.TransportError as exc:
            if last:
                raise Unavailable("fal could not be reached", detail=repr(exc)) from None
        else:
            if response.status_code not in RETRY_STATUSES or last:
                return response
            wait = retry_after(response)
            if wait is not None:
                await asyncio.sleep(min(wait, max_delay))
                continue
        await asyncio.sleep(backoff(number, base_delay, max_delay))
    raise AssertionError("unreachable")


def backoff(number: int, base_delay: float, max_delay: float) -> float:
    delay = min(base_delay * 2.0 ** (number - 1), max_delay)
    return delay * random.uniform(0.75, 1.25)


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def error_of(response: httpx.Response) -> ProviderError:
    """The provider error for a non-2xx answer, carrying the units fal billed for it."""
    body = json_body(response, strict=False)
    error = http_error(
        response.status_code,
        body.get("detail", response.text[:300]),
        body.get("error_type") or response.headers.get("x-fal-error-type"),
    )
    error.billed_units = billable_units(response.headers.get(UNITS_HEADER))
    return error


def http_error(status: int, detail: Any, error_type: str | None) -> ProviderError:
    text = detail_text(detail)
    if isinstance(detail, list):
        for item in detail:
            if isinstance(item, dict) and item.get("type") == "content_policy_violation":
                ctx = item.get("ctx") if isinstance(item.get("ctx"), dict) else {}
                category = str((ctx or {}).get("category") or "")
                return ContentPolicy(text, category=category, detail=text)
    if error_type == "content_policy_violation":
        return ContentPolicy(text, detail=text)
    if status in (401, 403):
        return AccountLocked(text or "fal refused the account", detail=text)
    if status == 404:
        return RequestLost(text or "fal does not know this request", detail=text)
    if status in (400, 422):
        return InvalidInput(text or "fal rejected the request", detail=text)
    return Unavailable(f"fal answered {status}", detail=f"{error_type or ''} {text}".strip())


def detail_text(detail: Any) -> str:
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                where = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                message = str(item.get("msg", ""))
                parts.append(f"{where}: {message}" if where else message)
            else:
                parts.append(str(item))
        return "; ".join(p for p in parts if p)
    return str(detail) if detail is not None else ""


def json_body(response: httpx.Response, *, strict: bool = True) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        if strict:
            raise Unavailable("fal sent an unreadable answer", detail=response.text[:300]) from None
        return {}
    return body if isinstance(body, dict) else {"detail": body}


def billable_units(header: str | None) -> Decimal | None:
    if header is None:
        return None
    try:
        units = Decimal(header.strip())
    except InvalidOperation:
        log.warning("fal sent an unreadable %s header: %r", UNITS_HEADER, header[:50])
        return None
    if not units.is_finite() or units < 0:
        log.warning("fal sent an impossible %s header: %r", UNITS_HEADER, header[:50])
        return None
    return units

"""The one place that talks to fal: submit, status, result (with billable units), media, cancel.

Submission goes through fal-client's AsyncClient. Status, result and cancel use the URLs fal
returned at submit (stored on the job, so a restarted bot resumes by them), fetched with our own
httpx client: fal-client drops response headers, and the bill arrives in one
(`x-fal-billable-units` on the result). fal's failures become the few errors in bot.provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bot.jobs.polling import PollPlan, poll
from bot.options import ImageRequest
from bot.pricing import PriceTable, gpt_image_2_prices
from bot.provider import (
    AccountLocked,
    ContentPolicy,
    Finished,
    Generation,
    InvalidInput,
    JobKind,
    OutputImage,
    ProviderError,
    Queued,
    QueueState,
    RequestLost,
    Running,
    Submission,
    Unavailable,
)

log = logging.getLogger(__name__)

_RETRY_STATUSES = frozenset({408, 409, 429, 502, 503, 504})
# A status stream silent this long is given up for polling (a stuck connection looks the same).
STREAM_IDLE_SECONDS = 120.0
DRAIN_SECONDS = 2.0
_MEDIA_TIMEOUT = aiohttp.ClientTimeout(total=120, connect=10)


@dataclass(frozen=True)
class ModelProfile:
    """A fal model as the bot uses it: endpoints, how requests map to inputs, prices."""

    name: str
    text_endpoint: str
    edit_endpoint: str
    prices: PriceTable
    # fal documents `background` on text-to-image only; whether edit accepts it is unconfirmed,
    # so sending it there is a setting (IMAGEBOT_EDIT_SENDS_BACKGROUND).
    edit_sends_background: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def endpoint_for(self, kind: JobKind) -> str:
        return self.edit_endpoint if kind == "edit" else self.text_endpoint

    def arguments(
        self, kind: JobKind, request: ImageRequest, image_urls: list[str], mask_url: str | None
    ) -> dict[str, Any]:
        args: dict[str, Any] = {
            "prompt": request.prompt,
            "quality": request.quality,
            "num_images": request.n,
            "output_format": request.output_format,
            **self.extra,
        }
        if request.size is not None:
            args["image_size"] = request.size.as_fal()
        if request.background != "auto" and (kind == "generate" or self.edit_sends_background):
            args["background"] = request.background
        if kind == "edit":
            args["image_urls"] = image_urls
            if mask_url is not None:
                args["mask_url"] = mask_url
        return args


def gpt_image_2(
    prices: PriceTable | None = None, *, edit_sends_background: bool = True
) -> ModelProfile:
    return ModelProfile(
        name="gpt-image-2",
        text_endpoint="openai/gpt-image-2",
        edit_endpoint="openai/gpt-image-2/edit",
        prices=prices or gpt_image_2_prices(),
        edit_sends_background=edit_sends_background,
    )


class ProfiledProvider:
    """A provider whose requests map to inputs the way its ModelProfile says."""

    profile: ModelProfile

    def endpoint_for(self, kind: JobKind) -> str:
        return self.profile.endpoint_for(kind)

    def arguments(
        self, kind: JobKind, request: ImageRequest, image_urls: list[str], mask_url: str | None
    ) -> dict[str, Any]:
        return self.profile.arguments(kind, request, image_urls, mask_url)


class FalProvider(ProfiledProvider):
    name = "fal"

    def __init__(self, key: str, profile: ModelProfile, *, timeout: float = 120.0) -> None:
        # fal-client reads FAL_RUN_HOST / FAL_QUEUE_RUN_HOST when first imported.
        import fal_client

        self.profile = profile
        self.prices = profile.prices
        self._client = fal_client.AsyncClient(key=key, default_timeout=timeout)
        # Each job at fal holds one status stream open, so allow as many connections as jobs.
        self._http = httpx.AsyncClient(
            headers={"Authorization": f"Key {key}"},
            timeout=httpx.Timeout(timeout, connect=15.0),
            limits=httpx.Limits(max_connections=2000, max_keepalive_connections=50),
        )
        # Images are megabytes: aiohttp moves them with far less work per byte than httpx.
        self._media: aiohttp.ClientSession | None = None

    async def submit(self, endpoint_id: str, arguments: dict[str, Any]) -> Submission:
        from fal_client.client import FalClientHTTPError

        try:
            handle = await self._client.submit(endpoint_id, arguments)
        except FalClientHTTPError as exc:
            raise _http_error(exc.status_code, exc.message, exc.error_type) from None
        except httpx.HTTPError as exc:
            raise Unavailable("fal could not be reached", detail=repr(exc)) from None
        return Submission(
            handle.request_id, handle.status_url, handle.response_url, handle.cancel_url
        )

    async def status(self, submission: Submission) -> QueueState:
        response = await self._send("GET", submission.status_url, params={"logs": "false"})
        return _state(_json(response))

    async def watch(
        self, submission: Submission, expected_seconds: float | None
    ) -> AsyncGenerator[QueueState, None]:
        """Follow fal's status stream; poll instead when it is not there or breaks off."""
        try:
            async with contextlib.aclosing(self._stream(submission)) as states:
                async for state in states:
                    yield state
                    if isinstance(state, Finished):
                        return
        except (httpx.HTTPError, _NoStream) as exc:
            log.info("status stream ended request=%s (%s); polling", submission.request_id, exc)
        async for state in poll(self.status, submission, PollPlan(expected_seconds)):
            yield state

    async def _stream(self, submission: Submission) -> AsyncGenerator[QueueState, None]:
        url = submission.status_url.rstrip("/") + "/stream"
        timeout = httpx.Timeout(STREAM_IDLE_SECONDS, connect=15.0)
        async with self._http.stream(
            "GET", url, params={"logs": "false"}, timeout=timeout
        ) as answer:
            if answer.status_code != 200:
                raise _NoStream(f"stream answered {answer.status_code}")
            lines = answer.aiter_lines()
            async for line in lines:
                if not line.startswith("data:"):
                    continue
                state = _state(json.loads(line.removeprefix("data:").strip() or "{}"))
                if isinstance(state, Finished):
                    await _drain(lines)
                yield state
                if isinstance(state, Finished):
                    return
        raise _NoStream("stream closed before the request finished")

    async def result(self, submission: Submission) -> Generation:
        response = await self._send("GET", submission.result_url)
        body = _json(response)
        images = [
            OutputImage(
                url=str(item["url"]),
                content_type=str(item.get("content_type") or "image/png"),
                width=int(item.get("width") or 0),
                height=int(item.get("height") or 0),
                file_name=str(item.get("file_name") or ""),
            )
            for item in body.get("images", [])
            if isinstance(item, dict) and item.get("url")
        ]
        if not images:
            raise ProviderError("fal finished without any image", detail=str(body)[:500])
        units = _billable_units(response.headers.get("x-fal-billable-units"))
        return Generation(submission.request_id, images, units)

    def _media_session(self) -> aiohttp.ClientSession:
        if self._media is None:
            # aiohttp builds its default TLS context once, when imported; a context made now
            # honours SSL_CERT_FILE as it is at start, as httpx (and so fal-client) does.
            connector = aiohttp.TCPConnector(ssl=ssl.create_default_context())
            self._media = aiohttp.ClientSession(timeout=_MEDIA_TIMEOUT, connector=connector)
        return self._media

    async def download(self, url: str, destination: Path) -> int:
        """Stream one output image to disk; fal keeps results only minutes to an hour."""
        size = 0
        try:
            async with self._media_session().get(url) as response:
                if response.status != 200:
                    raise RequestLost(f"fal's copy of the image answered {response.status}")
                with destination.open("wb") as out:
                    async for chunk in response.content.iter_chunked(1 << 16):
                        out.write(chunk)
                        size += len(chunk)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable("the image could not be fetched from fal", detail=repr(exc)) from None
        return size

    async def is_reachable(self, url: str) -> bool:
        try:
            async with self._media_session().get(url) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def cancel(self, submission: Submission) -> bool:
        """True when fal took the cancellation (only possible before processing starts)."""
        try:
            response = await self._send("PUT", submission.cancel_url, ok=(200, 202, 400, 404))
        except ProviderError:
            return False
        return response.status_code in (200, 202)

    async def close(self) -> None:
        await self._http.aclose()
        if self._media is not None:
            await self._media.close()

    async def _send(
        self, method: str, url: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any
    ) -> httpx.Response:
        async def attempt() -> httpx.Response:
            return await self._http.request(method, url, **kwargs)

        response = await with_retries(attempt)
        if response.status_code in ok:
            return response
        body = _json(response, strict=False)
        raise _http_error(
            response.status_code,
            body.get("detail", response.text[:300]),
            body.get("error_type") or response.headers.get("x-fal-error-type"),
        )


async def with_retries(
    attempt: Callable[[], Awaitable[httpx.Response]],
    *,
    tries: int = 6,
    base_delay: float = 0.5,
    max_delay: float = 8.0,
) -> httpx.Response:
    """Retry what fal says may pass (429, 408, 409, gateway 5xx) and lost connections."""
    for number in range(1, tries + 1):
        last = number == tries
        try:
            response = await attempt()
        except httpx.TransportError as exc:
            if last:
                raise Unavailable("fal could not be reached", detail=repr(exc)) from None
        else:
            if response.status_code not in _RETRY_STATUSES or last:
                return response
            wait = _retry_after(response)
            if wait is not None:
                await asyncio.sleep(min(wait, max_delay))
                continue
        delay = min(base_delay * 2 ** (number - 1), max_delay)
        await asyncio.sleep(delay * random.uniform(0.75, 1.25))
    raise AssertionError("unreachable")


async def _drain(lines: AsyncIterator[str]) -> None:
    """Read a finished stream to its end (fal closes it at once): a connection closed
    mid-response cannot be reused, and the next request would pay a new TLS handshake."""
    with contextlib.suppress(TimeoutError, httpx.HTTPError):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in lines:
                pass


class _NoStream(Exception):
    """fal did not (or no longer) stream this request's status."""


def _state(body: dict[str, Any]) -> QueueState:
    state = body.get("status")
    if state == "IN_QUEUE":
        return Queued(int(body.get("queue_position") or 0))
    if state == "IN_PROGRESS":
        return Running()
    if state == "COMPLETED":
        return Finished(body.get("error"), body.get("error_type"))
    # fal's schema also names FAILED and CANCELED; treat any other end as an error.
    return Finished(f"fal reported status {state!r}", str(state).lower())


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _http_error(status: int, detail: Any, error_type: str | None) -> ProviderError:
    text = _detail_text(detail)
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
    if status == 422:
        return InvalidInput(text or "fal rejected the request", detail=text)
    if status == 400:
        return InvalidInput(text or "fal rejected the request", detail=text)
    return Unavailable(f"fal answered {status}", detail=f"{error_type or ''} {text}".strip())


def _detail_text(detail: Any) -> str:
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


def _json(response: httpx.Response, *, strict: bool = True) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        if strict:
            raise Unavailable("fal sent an unreadable answer", detail=response.text[:300]) from None
        return {}
    return body if isinstance(body, dict) else {"detail": body}


def _billable_units(header: str | None) -> Decimal | None:
    if header is None:
        return None
    try:
        units = Decimal(header.strip())
    except InvalidOperation:
        log.warning("fal sent an unreadable x-fal-billable-units header: %r", header[:50])
        return None
    if not units.is_finite() or units < 0:
        log.warning("fal sent an impossible x-fal-billable-units header: %r", header[:50])
        return None
    return units

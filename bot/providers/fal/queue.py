"""The one place that talks to fal's queue: submit, status, result (with billable units), bill,
media, cancel.

Every call goes out through our own httpx client. fal-client would re-send a submit whose
answer was lost (up to 10 times, `fal_client/client.py` MAX_ATTEMPTS), and fal's queue has no
idempotency key, so each blind retry can be a second billed request; fal-client also drops the
response headers that carry the bill (`x-fal-billable-units`). Submits go to the queue URL
fal-client would use (so FAL_QUEUE_RUN_HOST applies), and are retried only after fal's request
history (bot.providers.fal.platform) shows the lost one did not arrive. Status, result and
cancel use the URLs fal returned at submit, stored on the job, so a restarted bot resumes by
them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bot.domain.clock import Clock, system_clock
from bot.providers.base import (
    CancelOutcome,
    Finished,
    Generation,
    OutputImage,
    ProviderError,
    Queued,
    QueueState,
    RequestLost,
    Running,
    Submission,
    SubmitGuard,
    Unavailable,
)
from bot.providers.catalog import Catalog, CatalogProvider
from bot.providers.fal.platform import FalPlatform, PlatformError, UnitPrices
from bot.providers.fal.submit import Submitter
from bot.providers.fal.wire import UNITS_HEADER, billable_units, error_of, json_body, with_retries
from bot.providers.polling import PollPlan, poll

log = logging.getLogger(__name__)

# A status stream silent this long is given up for polling (a stuck connection looks the same).
STREAM_IDLE_SECONDS = 120.0
DRAIN_SECONDS = 2.0
_MEDIA_TIMEOUT = aiohttp.ClientTimeout(total=120, connect=10)
# fal's billing record of a request is looked for this far back from now.
_BILLING_LOOKBACK = timedelta(days=7)


class FalProvider(CatalogProvider):
    name = "fal"

    def __init__(
        self,
        key: str,
        catalog: Catalog,
        *,
        platform: FalPlatform | None = None,
        timeout: float = 120.0,
        clock: Clock = system_clock,
        webhook_url: str | None = None,
    ) -> None:
        # fal-client reads FAL_RUN_HOST / FAL_QUEUE_RUN_HOST when first imported.
        from fal_client.client import QUEUE_URL_FORMAT

        self.catalog = catalog
        self.platform = platform
        self.webhook_url = webhook_url
        self.unit_prices = UnitPrices(platform, catalog)
        # Each job at fal holds one status stream open, so allow as many connections as jobs.
        self._http = httpx.AsyncClient(
            headers={"Authorization": f"Key {key}"},
            timeout=httpx.Timeout(timeout, connect=15.0),
            limits=httpx.Limits(max_connections=2000, max_keepalive_connections=50),
        )
        self.clock = clock
        self._submitter = Submitter(
            self._http, QUEUE_URL_FORMAT, catalog, platform, clock, webhook_url
        )
        # Images are megabytes: aiohttp moves them with far less work per byte than httpx.
        self._media: aiohttp.ClientSession | None = None

    async def submit(
        self, endpoint_id: str, arguments: dict[str, Any], guard: SubmitGuard
    ) -> Submission:
        return await self._submitter.submit(endpoint_id, arguments, guard)

    async def status(self, submission: Submission) -> QueueState:
        # fal answers 202 while the request is queued or running and 200 once it is done
        # (fal's queue API reference); fal-client and fal-js accept any 2xx.
        response = await self._send("GET", submission.status_url, params={"logs": "false"})
        return _state(json_body(response))

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
            if not answer.is_success:
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
        body = json_body(response)
        # Most models answer `images: [...]`; an upscaler answers one `image` (fal-js
        # endpoints.ts, SeedVRImageOutput).
        single = body.get("image")
        listed = body.get("images") or ([single] if isinstance(single, dict) else [])
        images = [
            OutputImage(
                url=str(item["url"]),
                content_type=str(item.get("content_type") or "image/png"),
                width=int(item.get("width") or 0),
                height=int(item.get("height") or 0),
                file_name=str(item.get("file_name") or ""),
            )
            for item in listed
            if isinstance(item, dict) and item.get("url")
        ]
        if not images:
            raise ProviderError("fal finished without any image", detail=str(body)[:500])
        units = billable_units(response.headers.get(UNITS_HEADER))
        return Generation(submission.request_id, images, units)

    async def bill(self, submission: Submission) -> Decimal | None:
        """What fal billed for a request that ended without a result: the units header on its
        result answer (fal sets it on errors too), else fal's billing record, if it has one."""
        try:
            response = await with_retries(lambda: self._http.request("GET", submission.result_url))
        except ProviderError:
            response = None
        units = None if response is None else billable_units(response.headers.get(UNITS_HEADER))
        if units is not None or self.platform is None:
            return units
        now = self.clock()
        try:
            events = await self.platform.billing_events(
                now - _BILLING_LOOKBACK, now + timedelta(hours=1),
                request_ids=[submission.request_id],
            )  # fmt: skip
        except PlatformError as exc:
            log.info("no billing record for request=%s: %s", submission.request_id, exc.message)
            return None
        return sum((e.units for e in events), Decimal(0)) if events else None

    async def cost_micros(self, endpoint_id: str, units: Decimal) -> int:
        return await self.unit_prices.cost_micros(endpoint_id, units)

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

    async def cancel(self, submission: Submission) -> CancelOutcome:
        """fal answers 202 CANCELLATION_REQUESTED for a queued request and for a running one
        alike (its runner decides whether to stop); ALREADY_COMPLETED once it is done."""
        try:
            response = await with_retries(lambda: self._http.request("PUT", submission.cancel_url))
        except ProviderError:
            return "unknown"
        status = json_body(response, strict=False).get("status")
        if response.is_success:
            return "requested"
        if status == "ALREADY_COMPLETED":
            return "too_late"
        log.warning("cancel answered %s request=%s", response.status_code, submission.request_id)
        return "unknown"

    async def close(self) -> None:
        await self._http.aclose()
        if self.platform is not None:
            await self.platform.close()
        if self._media is not None:
            await self._media.close()

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = await with_retries(lambda: self._http.request(method, url, **kwargs))
        if response.is_success:
            return response
        raise error_of(response)


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
    # `metrics.inference_time`: seconds the runner spent on it (fal's queue docs), so it ran.
    metrics = body.get("metrics")
    ran = isinstance(metrics, dict) and bool(metrics.get("inference_time"))
    if state == "COMPLETED":
        return Finished(body.get("error"), body.get("error_type"), ran)
    if state in ("CANCELLED", "CANCELED"):
        return Finished(body.get("error") or "cancelled", "request_cancelled", ran)
    # Any other end (fal's schema also names FAILED) is an error.
    return Finished(f"fal reported status {state!r}", str(state).lower(), ran)

"""Submitting to fal's queue so that one job never leaves fal two requests.

fal's queue has no idempotency key: a submit sent again after its answer was lost queues a
second request, which fal bills. So a submit whose answer is lost (a dropped connection, a
timeout, a gateway error) is looked for in fal's request history first, and adopted when fal
has it; it is sent again only when fal's records show it never arrived. A job an earlier
process may have submitted looks there before its first send.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from bot.domain.clock import Clock, system_clock
from bot.providers.base import Submission, SubmitGuard, Unavailable, Unconfirmed
from bot.providers.catalog import Catalog
from bot.providers.fal.platform import FalPlatform, PlatformError
from bot.providers.fal.wire import backoff, error_of, json_body, retry_after

log = logging.getLogger("bot.providers.fal.queue")

SUBMIT_TRIES = 4
# fal's history may list a request a moment after it arrived.
LOOKUP_PAUSES = (0.0, 1.0, 3.0)
# Our clock and fal's may differ: the history is read this much around the submit.
CLOCK_MARGIN = timedelta(minutes=2)
# Without it fal may run a failing request on another model (fal's reliability docs,
# "Model Fallbacks"): people should get, and pay for, the model they asked for.
SUBMIT_HEADERS = {"x-fal-disable-fallbacks": "true"}


class _Lost(Exception):
    """The submit may have reached fal, but its answer did not reach us."""


class _NotTaken(Exception):
    """fal did not take the submit (it never left, or fal asked us to wait)."""

    def __init__(self, wait: float | None) -> None:
        super().__init__(wait)
        self.wait = wait


class Submitter:
    def __init__(
        self,
        http: httpx.AsyncClient,
        queue_url: str,
        catalog: Catalog,
        platform: FalPlatform | None,
        clock: Clock = system_clock,
        webhook_url: str | None = None,
    ) -> None:
        self.http = http
        # fal's request history is searched around the moments this clock gives.
        self.clock = clock
        self.queue_url = queue_url
        self.catalog = catalog
        self.platform = platform
        # fal posts to this URL when the request is done: the submit's `fal_webhook` query
        # parameter (fal's webhook docs; fal-js `queue.ts` and fal-client's `webhook_url`).
        self.params = {"fal_webhook": webhook_url} if webhook_url else {}

    async def submit(
        self, endpoint_id: str, arguments: dict[str, Any], guard: SubmitGuard
    ) -> Submission:
        """Send the submit once, and again only when fal's records show it never arrived.
        Unconfirmed when those records cannot be read: sending again could make fal run it
        twice, and reconciliation finds it later if it did run."""
        if guard.since is not None:
            found = await self._look(endpoint_id, arguments, guard.since, guard, (0,))
            if found is not None:
                log.info("an earlier submit reached fal: adopted request=%s", found.request_id)
                return found
        for number in range(1, SUBMIT_TRIES + 1):
            started = self.clock()
            wait = None
            try:
                return await self._send(endpoint_id, arguments)
            except _Lost as lost:
                log.warning("submit answer lost (%s); looking in fal's request history", lost)
                found = await self._look(endpoint_id, arguments, started, guard, LOOKUP_PAUSES)
                if found is not None:
                    log.info("the lost submit reached fal: adopted request=%s", found.request_id)
                    return found
            except _NotTaken as refused:
                wait = refused.wait
            if number < SUBMIT_TRIES:
                await asyncio.sleep(wait if wait is not None else backoff(number, 1.0, 10.0))
        raise Unavailable("fal did not take the request", detail=f"{SUBMIT_TRIES} tries")

    async def _send(self, endpoint_id: str, arguments: dict[str, Any]) -> Submission:
        try:
            response = await self.http.post(
                self.queue_url + endpoint_id,
                json=arguments,
                headers=SUBMIT_HEADERS,
                params=self.params,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout):
            raise _NotTaken(None) from None
        except httpx.TransportError as exc:
            raise _Lost(repr(exc)) from None
        if response.is_success:
            return _submission(json_body(response))
        if response.status_code in (409, 429):
            raise _NotTaken(retry_after(response))
        # A gateway error without fal's request id came from in front of the queue, which may
        # or may not have passed the request on (fal-client's `_is_ingress_error`); a 408 may
        # come after the body was read.
        gateway = response.status_code in (502, 503, 504) and (
            "x-fal-request-id" not in response.headers
        )
        if gateway or response.status_code == 408:
            raise _Lost(f"fal answered {response.status_code}")
        raise error_of(response)

    async def _look(
        self,
        endpoint_id: str,
        arguments: dict[str, Any],
        since: datetime,
        guard: SubmitGuard,
        pauses: Sequence[float],
    ) -> Submission | None:
        """The request fal's history has for these inputs that no other job owns, if any;
        Unconfirmed when fal's history cannot be read."""
        schema = self.catalog.schema_of(endpoint_id)
        for pause in pauses:
            await asyncio.sleep(pause)
            now = self.clock()
            try:
                if self.platform is None:
                    raise PlatformError("no Platform API is configured")
                items = await self.platform.requests(
                    [endpoint_id], since - CLOCK_MARGIN, now + CLOCK_MARGIN
                )
            except PlatformError as exc:
                log.warning("fal's request history could not be read (%s)", exc.message)
                raise Unconfirmed(
                    "fal did not answer, and its records could not say if it got the request",
                    detail=exc.message,
                ) from None
            for item in sorted(items, key=lambda i: i.sent_at or now):
                inputs = item.json_input
                if inputs is None or item.endpoint_id not in ("", endpoint_id):
                    continue
                same = schema.same_request(arguments, inputs) if schema else inputs == arguments
                if same and not await guard.taken(item.request_id):
                    return self._adopted(endpoint_id, item.request_id)
        return None

    def _adopted(self, endpoint_id: str, request_id: str) -> Submission:
        """A request known only by its id lives at fal's documented queue URLs, under the
        model's owner/alias without the endpoint's subpath (fal's queue docs; fal-client's
        `get_handle` builds them the same way)."""
        parts = endpoint_id.split("/")
        app = "/".join(parts[: 3 if parts[0] in ("workflows", "comfy") else 2])
        base = f"{self.queue_url}{app}/requests/{request_id}"
        return Submission(request_id, f"{base}/status", base, f"{base}/cancel")


def _submission(body: dict[str, Any]) -> Submission:
    try:
        return Submission(
            str(body["request_id"]), str(body["status_url"]), str(body["response_url"]),
            str(body["cancel_url"]),
        )  # fmt: skip
    except KeyError as exc:
        raise Unavailable("fal's submit answer lacks a field", detail=str(exc)) from None

"""fal's webhook in HTTP mode: POST /fal/webhook. A delivery not shown to be fal's (signature,
timestamp, replay; bot.providers.fal.webhook) is answered 401 and changes nothing. A genuine
one is answered 200 at once (fal gives a delivery 15 s and retries a slow one) while the
runner takes the finished request up in the background."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from bot.config import WEBHOOK_PATH
from bot.jobs.runner import Runner
from bot.providers.fal.webhook import WebhookRefused, WebhookVerifier

log = logging.getLogger(__name__)


class WebhookRoute:
    def __init__(self, verifier: WebhookVerifier, runner: Runner) -> None:
        self.verifier = verifier
        self.runner = runner
        self._pending: set[asyncio.Task[None]] = set()

    def add_to(self, app: web.Application) -> None:
        app.router.add_post(WEBHOOK_PATH, self.receive)

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            delivery = await self.verifier.verify(request.headers, body)
        except WebhookRefused as exc:
            log.warning("fal webhook refused from %s: %s", request.remote, exc)
            return web.json_response({"error": "unauthorized"}, status=401)
        log.info("fal webhook request=%s status=%s", delivery.request_id, delivery.status)
        task = asyncio.create_task(self._finished(delivery.request_id))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return web.json_response({"ok": True})

    async def _finished(self, request_id: str) -> None:
        try:
            await self.runner.fal_finished(request_id)
        except Exception:
            log.exception("a finished request could not be taken up request=%s", request_id)

"""Custom steps for Workflow Builder: "Generate an image" (`generate_image`, declared under
`functions` in manifest.yml). Bolt acknowledges the `function_executed` event; the run then
ends the step with `complete` (the image's permalink) or `fail` (a reason the workflow's
author can read), through the function's own token, which Bolt puts on the listener's client.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.context.complete.async_complete import AsyncComplete
from slack_bolt.context.fail.async_fail import AsyncFail

from bot.requests.workflow import GENERATE_IMAGE, WorkflowStep
from handlers.payloads import step_run
from handlers.registrar import Registrar


def register(on: Registrar, workflow: WorkflowStep) -> None:
    async def generate_image(
        body: dict[str, Any], event: dict[str, Any], complete: AsyncComplete, fail: AsyncFail
    ) -> None:
        result = await workflow.run(step_run(event, str(body.get("team_id") or "")))
        if result is None:
            return
        if result.permalink is not None:
            await complete(outputs={"permalink": result.permalink})
        else:
            await fail(error=result.error or "The image could not be made.")

    on.function(GENERATE_IMAGE, generate_image)

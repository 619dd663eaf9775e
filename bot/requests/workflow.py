"""The Workflow Builder step "Generate an image" (callback id `generate_image`).

A run takes a prompt (with `/image` options if the author likes), a model or style name, a
channel and the person who runs the workflow. It is admitted like `/image` from that person
in that channel, charged to them, and the card and images are posted there as `/image` posts
them. The step ends with the first image's permalink, or with a reason a workflow author can
read; a run that was not admitted (an unknown model or style, a prompt too long, over budget)
sends nothing to fal and charges nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.domain.failures import failure_text
from bot.domain.request import ImageRequest, OptionError
from bot.requests.grammar import parse_request
from bot.requests.intake import Intake, NotAdmitted
from bot.slack.client import SlackError, SlackOut
from bot.slack.notifier import Requester
from bot.store import Admitted, Job, JobState, Store

log = logging.getLogger(__name__)

GENERATE_IMAGE = "generate_image"
# How often a run looks whether its job is over, and how long past the job's own deadline.
POLL_SECONDS = 0.5
SLACK_MARGIN_SECONDS = 120.0


@dataclass(frozen=True)
class StepRun:
    """One run of the step, as the handlers read it from Slack's `function_executed` event."""

    execution_id: str
    user_id: str
    channel_id: str
    team_id: str
    prompt: str
    choice: str = ""


@dataclass(frozen=True)
class StepResult:
    """How the run ended: the image's permalink, or why not."""

    permalink: str | None = None
    error: str | None = None


class WorkflowStep:
    def __init__(self, store: Store, intake: Intake, slack: SlackOut, deadline: float) -> None:
        self.store = store
        self.intake = intake
        self.slack = slack
        self.wait_seconds = deadline + SLACK_MARGIN_SECONDS

    async def run(self, step: StepRun) -> StepResult | None:
        """The run's outcome; None when Slack delivered this run before (that one answers)."""
        if not step.user_id or not step.channel_id:
            return StepResult(error="The step needs a channel and the person running it.")
        try:
            request = await self._request(step)
            admission = await self.intake.admit(
                Requester(step.user_id, step.channel_id, step.team_id), request,
                origin="workflow", source_key=f"workflow:{step.execution_id}",
            )  # fmt: skip
        except (OptionError, NotAdmitted) as exc:
            log.info("workflow step refused execution=%s user=%s", step.execution_id, step.user_id)
            return StepResult(error=_plain(exc.message))
        if not isinstance(admission, Admitted):
            return None
        job = await self._ended(admission.job.id)
        if job is None:
            return StepResult(error="The image took too long; it will still land in the channel.")
        return await self._result(job)

    async def _request(self, step: StepRun) -> ImageRequest:
        request = parse_request(step.prompt, default_quality=None)
        choice = step.choice.strip().lower()
        if not choice:
            return request
        if choice in self.intake.provider.catalog.profiles:
            return request.model_copy(update={"model": choice})
        if any(style.name == choice for style in await self.store.styles(choice)):
            return request.model_copy(update={"style": choice})
        models = ", ".join(self.intake.provider.catalog.profiles)
        raise OptionError(
            f"There's no model or style `{step.choice.strip()}`. The models are {models};"
            " /image styles lists the styles. Nothing was sent or charged."
        )

    async def _ended(self, job_id: str) -> Job | None:
        """The job once it is over and its card final (None if that takes too long)."""
        try:
            async with asyncio.timeout(self.wait_seconds):
                while True:
                    job = await self.store.get_job(job_id)
                    if job is not None and job.finished and job.card_done:
                        return job
                    await asyncio.sleep(POLL_SECONDS)
        except TimeoutError:
            log.warning("workflow step gave up waiting job=%s", job_id)
            return None

    async def _result(self, job: Job) -> StepResult:
        if job.state != JobState.DELIVERED or not job.slack_file_ids:
            text = failure_text(
                job.failure, job.error_message, job.id,
                charged_micros=job.charged_micros, estimated=job.charge_estimated,
            )  # fmt: skip
            return StepResult(error=_plain(text))
        try:
            permalink = await self.slack.file_permalink(job.slack_file_ids[0])
        except SlackError as exc:
            log.warning("no permalink for job=%s error=%s", job.id, exc.code)
            permalink = None
        if not permalink:
            return StepResult(error="The image is in the channel, but Slack gave no link to it.")
        return StepResult(permalink=permalink)


def _plain(text: str) -> str:
    """A reason for Workflow Builder, which shows it as plain text."""
    return text.replace("`", "")

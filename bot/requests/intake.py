"""Turning a person's request into an admitted job: channel rules, the estimate, budgets.

Handlers call this after they have acknowledged Slack, with typed values; a refusal is told
privately through the notifier.
"""

from __future__ import annotations

import logging

from bot.config import Settings
from bot.domain.clock import Clock
from bot.domain.request import ImageRequest, OptionError, Size
from bot.domain.usd import format_usd
from bot.jobs.runner import Runner, log_state
from bot.money.budgets import Budgets
from bot.providers.base import ImageProvider, JobKind
from bot.requests.models import Models
from bot.slack.notifier import Notifier, Requester
from bot.store import Admission, Admitted, Duplicate, ImageInput, NewJob, Refused

log = logging.getLogger(__name__)

# What an edit makes when no size is given: about a square, or the shape of its input.
_EDIT_SIZE = Size(width=1024, height=1024)


class Intake:
    def __init__(
        self,
        settings: Settings,
        budgets: Budgets,
        runner: Runner,
        notifier: Notifier,
        provider: ImageProvider,
        clock: Clock,
    ) -> None:
        self.allowed_channels = settings.allowed_channels
        self.models = Models(provider.catalog, budgets.store, settings.default_quality)
        self.clock = clock
        self.budgets = budgets
        self.runner = runner
        self.notifier = notifier
        self.provider = provider

    def channel_allowed(self, channel_id: str) -> bool:
        allowed = self.allowed_channels
        return not allowed or channel_id in allowed or channel_id.startswith("D")

    def estimate_micros(
        self, kind: JobKind, request: ImageRequest, inputs: list[ImageInput] | None = None
    ) -> int:
        """The hold: for an edit without a size, the output follows its largest input."""
        profile = self.provider.catalog.get(request.model)
        images = [item for item in inputs or [] if not item.is_mask]
        width, height = profile.default_size
        if kind == "edit":
            width, height = _EDIT_SIZE.width, _EDIT_SIZE.height
        if request.size is not None:
            width, height = request.size.width, request.size.height
        elif kind == "edit" and any(i.width and i.height for i in images):
            width, height = max(((i.width, i.height) for i in images), key=lambda s: s[0] * s[1])
        return profile.estimate_micros(request, width, height, len(images))

    async def submit(
        self,
        who: Requester,
        request: ImageRequest,
        *,
        kind: JobKind = "generate",
        origin: str,
        thread_ts: str | None = None,
        inputs: list[ImageInput] | None = None,
        parent_job_id: str | None = None,
        source_key: str | None = None,
    ) -> Admission | None:
        """Admit and start a job, or tell the person why not. None when refused by policy
        or because the model cannot do what was asked (nothing is held or sent then)."""
        if not self.channel_allowed(who.channel_id):
            await self.notifier.tell(
                who, "Image requests aren't enabled in this channel. Ask an admin."
            )
            return None
        try:
            profile, request = await self.models.settle(request, kind, who.channel_id)
        except OptionError as exc:
            await self.notifier.tell(who, exc.message)
            return None
        inputs = inputs or []
        endpoint = profile.endpoint_for(kind)
        new = NewJob(
            user_id=who.user_id, team_id=who.team_id, channel_id=who.channel_id,
            thread_ts=thread_ts, response_url=who.response_url, kind=kind, origin=origin,
            request=request, endpoint_id=endpoint, model=endpoint,
            estimate_micros=self.estimate_micros(kind, request, inputs), inputs=inputs,
            parent_job_id=parent_job_id, source_key=source_key,
        )  # fmt: skip
        admission = await self.budgets.admit(new)
        if isinstance(admission, Admitted):
            log_state(
                self.clock(),
                admission.job,
                "held",
                origin=origin,
                estimate=new.estimate_micros,
            )
            self.runner.launch(admission.job.id)
        elif isinstance(admission, Refused):
            await self.notifier.tell(who, self.refusal_text(admission))
        elif isinstance(admission, Duplicate):
            log.info("duplicate delivery ignored key=%s job=%s", source_key, admission.job_id)
        return admission

    def refusal_text(self, refused: Refused) -> str:
        resets = self.budgets.resets()
        whose = "your monthly budget" if refused.scope == "user" else "the team's monthly budget"
        return (
            f"This request (est. {format_usd(refused.estimate_micros)}) would go over {whose}:"
            f" {format_usd(refused.spent_micros)} of {format_usd(refused.budget_micros)} used,"
            f" {format_usd(refused.left_micros)} left. It resets on {resets:%B} {resets.day}."
            " Try a lower quality or fewer images, or ask an admin. Nothing was charged."
        )

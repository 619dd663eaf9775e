"""Turning a person's request into an admitted job: channel rules, the estimate, budgets.

Handlers call this after they have acknowledged Slack, with typed values; a refusal is told
privately through the notifier.
"""

from __future__ import annotations

import logging
from typing import Required, TypedDict, Unpack

from bot.config import Settings
from bot.domain.clock import Clock
from bot.domain.request import ImageRequest, OptionError
from bot.domain.usd import format_usd
from bot.jobs.runner import Runner, log_state
from bot.money.budgets import Budgets
from bot.providers.base import ImageProvider, JobKind
from bot.requests.models import Models
from bot.slack.notifier import Notifier, Requester
from bot.store import Admission, Admitted, Duplicate, ImageInput, NewJob, Refused

log = logging.getLogger(__name__)


class Placement(TypedDict, total=False):
    """What a request is and where its job goes: its kind, where it came from (`origin`:
    command, reply, button, workflow…), the thread, its input images, the job it follows, and
    the key of the Slack delivery it answers (the same key is admitted once)."""

    kind: JobKind
    origin: Required[str]
    thread_ts: str | None
    inputs: list[ImageInput] | None
    parent_job_id: str | None
    source_key: str | None


class NotAdmitted(Exception):
    """Why a request was not admitted, in words for the person (a budget's refusal too)."""

    def __init__(self, message: str, refused: Refused | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.refused = refused


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
        sizes = [(item.width, item.height) for item in inputs or [] if not item.is_mask]
        return profile.estimate_for(kind, request, sizes)

    async def submit(
        self, who: Requester, request: ImageRequest, **placed: Unpack[Placement]
    ) -> Admission | None:
        """Admit and start a job, or tell the person why not. None when refused by policy
        or because the model cannot do what was asked (nothing is held or sent then)."""
        try:
            return await self.admit(who, request, **placed)
        except NotAdmitted as exc:
            await self.notifier.tell(who, exc.message)
            return exc.refused

    async def admit(
        self, who: Requester, request: ImageRequest, **placed: Unpack[Placement]
    ) -> Admitted | Duplicate:
        """Admit and start a job; NotAdmitted says why not (nothing is held or sent then)."""
        kind, origin = placed.get("kind", "generate"), placed["origin"]
        if not self.channel_allowed(who.channel_id):
            raise NotAdmitted("Image requests aren't enabled in this channel. Ask an admin.")
        try:
            profile, request = await self.models.settle(request, kind, who.channel_id)
        except OptionError as exc:
            raise NotAdmitted(exc.message) from None
        inputs = placed.get("inputs") or []
        endpoint = profile.endpoint_for(kind)
        new = NewJob(
            user_id=who.user_id, team_id=who.team_id, channel_id=who.channel_id,
            thread_ts=placed.get("thread_ts"), response_url=who.response_url, kind=kind,
            origin=origin, request=request, endpoint_id=endpoint, model=endpoint,
            estimate_micros=self.estimate_micros(kind, request, inputs), inputs=inputs,
            parent_job_id=placed.get("parent_job_id"), source_key=placed.get("source_key"),
        )  # fmt: skip
        admission = await self.budgets.admit(new)
        if isinstance(admission, Refused):
            raise NotAdmitted(self.refusal_text(admission), admission)
        if isinstance(admission, Admitted):
            log_state(
                self.clock(), admission.job, "held", origin=origin, estimate=new.estimate_micros
            )
            self.runner.launch(admission.job.id)
        else:
            log.info("duplicate delivery ignored key=%s job=%s", new.source_key, admission.job_id)
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

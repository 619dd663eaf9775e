"""Turning a person's request into an admitted job: channel rules, the estimate, budgets.

Handlers call this after they have acknowledged Slack; nothing here parses Slack payloads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.config import Settings
from bot.domain.request import ImageRequest, Size
from bot.domain.usd import format_usd
from bot.jobs.runner import Runner, log_state
from bot.money.budgets import Budgets
from bot.providers.base import ImageProvider, JobKind
from bot.slack.blockkit import Block
from bot.slack.client import SlackOut
from bot.store import Admission, Admitted, Duplicate, ImageInput, NewJob, Refused, Store

log = logging.getLogger(__name__)

# What fal makes when no size is given: landscape_4_3 for text, about a square for edits.
_DEFAULT_SIZES: dict[JobKind, Size] = {
    "generate": Size(width=1024, height=768),
    "edit": Size(width=1024, height=1024),
}


@dataclass(frozen=True)
class Requester:
    """Who asked, where, and how to answer them privately."""

    user_id: str
    channel_id: str
    team_id: str = ""
    response_url: str | None = None


class Intake:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        budgets: Budgets,
        runner: Runner,
        slack: SlackOut,
        provider: ImageProvider,
    ) -> None:
        self.settings = settings
        self.store = store
        self.budgets = budgets
        self.runner = runner
        self.slack = slack
        self.provider = provider

    def channel_allowed(self, channel_id: str) -> bool:
        allowed = self.settings.allowed_channels
        return not allowed or channel_id in allowed or channel_id.startswith("D")

    def estimate_micros(
        self, kind: JobKind, request: ImageRequest, inputs: list[ImageInput] | None = None
    ) -> int:
        """The hold: for an edit without a size, the output follows its largest input."""
        images = [item for item in inputs or [] if not item.is_mask]
        size = request.size or _DEFAULT_SIZES[kind]
        width, height = size.width, size.height
        if kind == "edit" and request.size is None and any(i.width and i.height for i in images):
            width, height = max(((i.width, i.height) for i in images), key=lambda s: s[0] * s[1])
        return self.provider.prices.estimate_micros(
            request.quality, width, height, request.n, len(images)
        )

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
            await self.tell(who, "Image requests aren't enabled in this channel. Ask an admin.")
            return None
        refusal = self.provider.profile.refusal(request)
        if refusal is not None:
            await self.tell(who, refusal)
            return None
        inputs = inputs or []
        endpoint = self.provider.endpoint_for(kind)
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
                self.store.clock(),
                admission.job,
                "held",
                origin=origin,
                estimate=new.estimate_micros,
            )
            self.runner.launch(admission.job.id)
        elif isinstance(admission, Refused):
            await self.tell(who, self.refusal_text(admission))
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

    async def tell(self, who: Requester, text: str, blocks: list[Block] | None = None) -> None:
        """A private answer to the person: response_url, else ephemeral, else a DM."""
        await self.slack.tell(
            who.user_id, text, response_url=who.response_url, channel=who.channel_id, blocks=blocks
        )

"""What the buttons on a card and the Edit dialog do, and who may use them.

A button's value names a job; it is not trusted. The job must exist, the button must be on
that job's own card, and the person pressing it must be the one who asked (or, to cancel, an
admin). Anything else is refused without effect.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.config import Settings
from bot.domain.request import OptionError
from bot.jobs.runner import Runner
from bot.requests.conversation import Conversation
from bot.requests.grammar import parse_request
from bot.requests.intake import Intake
from bot.slack.admins import Admins
from bot.slack.client import SlackOut
from bot.slack.files import SharedFile
from bot.slack.notifier import Notifier, Requester
from bot.slack.views.modal import EditOfFiles, EditOfJob, EditTarget, edit_modal
from bot.store import Job, JobState, Store

log = logging.getLogger(__name__)

NOT_YOURS = (
    "Only the person who asked can use these buttons. Reply in the thread to make your own edit."
)
GONE = "I can't find that request any more."


@dataclass(frozen=True)
class Click:
    """A press on a card's button, as Slack reported it."""

    job_id: str
    user_id: str
    channel_id: str
    message_ts: str
    trigger_id: str
    response_url: str | None = None
    team_id: str = ""

    @property
    def requester(self) -> Requester:
        return Requester(self.user_id, self.channel_id, self.team_id, self.response_url)


class ModalError(Exception):
    """Shown next to the options field of the Edit dialog."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Controls:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        intake: Intake,
        conversation: Conversation,
        runner: Runner,
        admins: Admins,
        notifier: Notifier,
        slack: SlackOut,
    ) -> None:
        self.store = store
        self.intake = intake
        self.conversation = conversation
        self.runner = runner
        self.admins = admins
        self.notifier = notifier
        self.slack = slack

    async def _own_job(self, click: Click, *, admins_too: bool = False) -> Job | None:
        job = await self.store.get_job(click.job_id) if click.job_id else None
        on_its_card = (
            job is not None
            and job.channel_id == click.channel_id
            and job.card_ts == click.message_ts
        )
        if job is None or not on_its_card:
            await self.notifier.tell(click.requester, GONE)
            return None
        if job.user_id != click.user_id and not (
            admins_too and await self.admins.is_admin(click.user_id)
        ):
            await self.notifier.tell(click.requester, NOT_YOURS)
            return None
        return job

    async def cancel(self, click: Click) -> None:
        job = await self._own_job(click, admins_too=True)
        if job is None:
            return
        if not await self.runner.cancel(job, click.user_id):
            await self.notifier.tell(
                click.requester, "Too late to cancel: fal is already working on it."
            )

    async def again(self, click: Click, *, high_quality: bool) -> None:
        """Regenerate (the same request) or High quality (the same at the model's final
        quality, for a model that has one)."""
        job = await self._own_job(click)
        if job is None:
            return
        request = job.request
        final = self.intake.provider.catalog.get(request.model).final_quality
        if high_quality and final is not None:
            request = request.model_copy(update={"quality": final})
        await self.intake.submit(
            click.requester, request, kind=job.kind, origin="button",
            thread_ts=job.thread_ts, inputs=job.inputs, parent_job_id=job.parent_job_id,
            source_key=f"button:{click.trigger_id}",
        )  # fmt: skip

    async def final(self, click: Click) -> None:
        """Final: the draft's prompt on the final model, in the same thread, charged to
        whoever pressed it (anyone in the channel may)."""
        job = await self.store.get_job(click.job_id)
        if job is None or not job.request.draft:
            return
        request = self.intake.provider.catalog.final_of(job.request)
        await self.intake.submit(
            click.requester, request, kind="generate", origin="button", thread_ts=job.thread_ts,
            parent_job_id=job.id, source_key=f"button:{click.trigger_id}",
        )  # fmt: skip

    async def open_edit(self, click: Click) -> None:
        job = await self._own_job(click)
        if job is None:
            return
        if job.state != JobState.DELIVERED:
            await self.notifier.tell(click.requester, "That request has no image to edit.")
            return
        modal = edit_modal(EditOfJob(job.id), image_count=len(job.images))
        await self.slack.open_view(click.trigger_id, modal)

    async def open_edit_for_message(
        self, who: Requester, trigger_id: str, message_ts: str, thread_ts: str, files: list[str]
    ) -> None:
        """The "Edit image" shortcut: a card of ours edits its result; else the message's files."""
        job = await self.store.card_job(who.channel_id, message_ts)
        target: EditTarget
        if job is not None and job.state == JobState.DELIVERED:
            target, count = EditOfJob(job.id, by_shortcut=True), len(job.images)
        elif files:
            target, count = EditOfFiles(who.channel_id, thread_ts, tuple(files)), 1
        else:
            await self.notifier.tell(who, "That message has no image I can edit.")
            return
        await self.slack.open_view(trigger_id, edit_modal(target, image_count=count))

    def check_modal(self, instruction: str, options: str) -> str:
        """The text of the Edit dialog as one prompt; ModalError when the options are wrong."""
        text = f"{instruction.strip()} {options.strip()}".strip()
        try:
            parse_request(text, allow_image_pick=True)
        except OptionError as exc:
            raise ModalError(exc.message) from None
        return text

    async def submit_modal(
        self, user_id: str, team_id: str, target: EditTarget, text: str, key: str
    ) -> None:
        """Run the edit asked for in the dialog (after Slack has its answer)."""
        request = parse_request(text, default_quality=None, allow_image_pick=True)
        if isinstance(target, EditOfJob):
            job = await self.store.get_job(target.job_id)
            mine = job is not None and (job.user_id == user_id or target.by_shortcut)
            if job is None or job.thread_ts is None or not mine:
                log.info("edit dialog refused user=%s job=%s", user_id, target.job_id)
                return
            who = Requester(user_id, job.channel_id, team_id)
            await self.conversation.edit_latest(
                who, request, job.channel_id, job.thread_ts, "modal", key, job=job
            )
            return
        files = [SharedFile(file_id, "", "", 0, "") for file_id in target.file_ids]
        who = Requester(user_id, target.channel_id, team_id)
        await self.conversation.edit_files(who, request, target.thread_ts, files, "shortcut", key)

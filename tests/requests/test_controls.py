"""The card's buttons and the Edit dialog, against the mock provider and a recording Slack
double: a button's value is not trusted (the job must exist and the press come from its own
card, by the person who asked, or for Cancel an admin); the dialog carries what it edits and is
refused for someone else's job unless opened from the message shortcut."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.requests.controls import GONE, NOT_YOURS, Click, ModalError
from bot.slack.notifier import Requester
from bot.slack.views.modal import EditOfFiles, EditOfJob, edit_metadata
from bot.store import Job, JobState
from bot.testing.images import make_png
from tests.doubles import Parts, assembled
from tests.factories import new_job


async def delivered(parts: Parts, prompt: str = "a kite") -> Job:
    who = Requester("U0ALICE", "C0GENERAL")
    await parts.intake.submit(who, new_job(prompt=prompt, quality="low").request, origin="command")
    (job,) = await parts.finished()
    assert job.state == JobState.DELIVERED and job.card_ts is not None
    return job


def press(
    job: Job, user: str = "U0ALICE", *, value: str | None = None, ts: str = "", trigger: str = "1"
) -> Click:
    """A press on the job's card (each press has a trigger id of its own)."""
    return Click(
        job_id=job.id if value is None else value, user_id=user, channel_id=job.channel_id,
        message_ts=ts or job.card_ts or "", trigger_id=f"T{user}{trigger}",
        response_url=f"https://hooks/{user}",
    )  # fmt: skip


async def test_regenerate_and_high_quality_ask_again_for_the_requester(tmp_path: Path) -> None:
    async with assembled(tmp_path) as parts:
        first = await delivered(parts)
        await parts.controls.again(press(first), high_quality=False)
        await parts.controls.again(press(first, trigger="2"), high_quality=True)
        _, again, high = await parts.finished(3)

    assert again.request == first.request and again.origin == "button"
    assert high.request == first.request.model_copy(update={"quality": "high"})
    assert again.thread_ts == high.thread_ts == first.thread_ts


async def test_someone_elses_card_and_a_forged_value_are_refused_without_effect(
    tmp_path: Path,
) -> None:
    async with assembled(tmp_path) as parts:
        first = await delivered(parts)
        await parts.controls.again(press(first, "U0BOB"), high_quality=True)
        await parts.controls.again(press(first, value="jnope00000000"), high_quality=False)
        await parts.controls.again(press(first, ts="1.000001"), high_quality=False)
        await parts.controls.open_edit(press(first, "U0BOB"))
        jobs = await parts.store.jobs()

    assert len(jobs) == 1 and parts.slack.of("view") == []
    assert [s.text for s in parts.slack.told("U0BOB")] == [NOT_YOURS, NOT_YOURS]
    assert [s.text for s in parts.slack.told("U0ALICE")] == [GONE, GONE]


async def test_an_admin_may_press_cancel_on_anyones_card(tmp_path: Path) -> None:
    async with assembled(tmp_path, IMAGEBOT_ADMINS="U0ADA") as parts:
        first = await delivered(parts)
        await parts.controls.cancel(press(first, "U0ADA"))
        await parts.controls.cancel(press(first, "U0BOB"))

    # Past the ownership check, the finished job is simply too late to cancel.
    (admin,) = parts.slack.told("U0ADA")
    assert admin.text.startswith("Too late to cancel")
    assert [s.text for s in parts.slack.told("U0BOB")] == [NOT_YOURS]


async def test_the_edit_button_opens_the_dialog_on_that_job(tmp_path: Path) -> None:
    async with assembled(tmp_path) as parts:
        first = await delivered(parts)
        await parts.controls.open_edit(press(first))

    (opened,) = parts.slack.of("view")
    assert opened.where == "TU0ALICE1"
    assert opened.extra["view"]["private_metadata"] == edit_metadata(EditOfJob(first.id))


async def test_a_dialog_edits_its_job_only_for_its_requester_unless_from_the_shortcut(
    tmp_path: Path,
) -> None:
    async with assembled(tmp_path) as parts:
        first = await delivered(parts)
        await parts.controls.submit_modal("U0BOB", "T1", EditOfJob(first.id), "bluer", "view:1")
        assert len(await parts.store.jobs()) == 1
        shortcut = EditOfJob(first.id, by_shortcut=True)
        await parts.controls.submit_modal("U0BOB", "T1", shortcut, "bluer #1", "view:2")
        _, edit = await parts.finished(2)

    assert (edit.kind, edit.origin, edit.user_id) == ("edit", "modal", "U0BOB")
    assert edit.thread_ts == first.thread_ts and edit.prompt == "bluer"


async def test_a_dialog_on_a_message_edits_its_files_in_its_thread(tmp_path: Path) -> None:
    async with assembled(tmp_path) as parts:
        photo = parts.slack.share("photo.png", make_png("photo", 512, 512))
        target = EditOfFiles("C0GENERAL", "1700000000.000009", (photo.id,))
        await parts.controls.submit_modal("U0BOB", "T1", target, "add a hat", "view:3")
        (edit,) = await parts.finished()

    assert (edit.kind, edit.origin, edit.thread_ts) == ("edit", "shortcut", "1700000000.000009")
    assert edit.inputs[0].slack_file_id == photo.id


async def test_options_the_dialog_cannot_take_are_shown_in_the_dialog(tmp_path: Path) -> None:
    async with assembled(tmp_path) as parts:
        assert parts.controls.check_modal(" brighter ", "--quality low") == "brighter --quality low"
        with pytest.raises(ModalError, match="--n 7"):
            parts.controls.check_modal("brighter", "--n 7")

"""Intake, against the mock provider and a recording Slack double: a request is admitted and
started, or refused privately with the reason (a channel that takes none, a budget it would
pass, an option the model lacks), and then nothing is held or sent."""

from __future__ import annotations

from pathlib import Path

from bot.domain.request import ImageRequest
from bot.slack.notifier import Requester
from bot.store import Admitted, Duplicate, JobState, Refused
from tests.doubles import assembled

ALICE = Requester("U0ALICE", "C0GENERAL", "T0TEST", "https://hooks/U0ALICE")
CAT = ImageRequest(prompt="a cat", quality="medium")


async def test_an_admitted_request_is_held_and_run_to_the_end(tmp_path: Path) -> None:
    async with assembled(tmp_path) as parts:
        admission = await parts.intake.submit(ALICE, CAT, origin="command")
        (done,) = await parts.finished()

    assert isinstance(admission, Admitted) and admission.job.id == done.id
    assert done.state == JobState.DELIVERED and done.endpoint_id == "mock/openai/gpt-image-2"
    assert done.estimate_micros == 40_000 and done.response_url == ALICE.response_url
    assert parts.slack.told("U0ALICE") == []


async def test_a_channel_outside_the_allow_list_is_refused_privately(tmp_path: Path) -> None:
    async with assembled(tmp_path, IMAGEBOT_ALLOWED_CHANNELS="C0ART") as parts:
        assert await parts.intake.submit(ALICE, CAT, origin="command") is None
        in_a_dm = Requester("U0ALICE", "D0ALICE")
        assert await parts.intake.submit(in_a_dm, CAT, origin="dm") is not None
        await parts.finished()
        jobs = await parts.store.jobs()

    assert [job.channel_id for job in jobs] == ["D0ALICE"]
    (told,) = parts.slack.told("U0ALICE")
    assert told.how == "respond" and "aren't enabled in this channel" in told.text


async def test_a_request_past_the_budget_is_refused_with_what_is_left(tmp_path: Path) -> None:
    async with assembled(tmp_path, IMAGEBOT_USER_MONTHLY_BUDGET="0.05") as parts:
        first = await parts.intake.submit(ALICE, CAT, origin="command")
        second = await parts.intake.submit(ALICE, CAT, origin="command")
        await parts.finished()
        jobs = await parts.store.jobs()

    assert isinstance(first, Admitted) and isinstance(second, Refused)
    assert len(jobs) == 1 and len(parts.provider.submitted) == 1
    (told,) = parts.slack.told("U0ALICE")
    assert "would go over your monthly budget" in told.text and "$0.01 left" in told.text
    assert "Nothing was charged." in told.text


async def test_what_the_model_cannot_do_is_refused_before_anything_is_held(tmp_path: Path) -> None:
    transparent = CAT.model_copy(update={"background": "transparent"})
    async with assembled(tmp_path) as parts:
        assert await parts.intake.submit(ALICE, transparent, origin="command") is None
        jobs = await parts.store.jobs()

    assert jobs == [] and parts.provider.submitted == []
    (told,) = parts.slack.told("U0ALICE")
    assert "can't make transparent backgrounds" in told.text


async def test_the_same_delivery_twice_is_one_job(tmp_path: Path) -> None:
    async with assembled(tmp_path) as parts:
        first = await parts.intake.submit(ALICE, CAT, origin="reply", source_key="msg:C1:1.2")
        again = await parts.intake.submit(ALICE, CAT, origin="reply", source_key="msg:C1:1.2")
        await parts.finished()

    assert isinstance(first, Admitted) and isinstance(again, Duplicate)
    assert again.job_id == first.job.id and len(parts.provider.submitted) == 1

"""The runner's state machine, against the mock provider and a recording Slack double: a job
goes held -> submitted -> generated -> delivered with one card and its images in the card's
thread; each other ending (a card Slack refuses, an upload it refuses, a cancel while waiting,
the deadline) ends the job as it should, told and charged as the person would see it; and a
job a stopped process left behind is picked up where it stood."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from pathlib import Path

import pytest
from PIL import Image

from bot.domain.failures import ErrorKind
from bot.jobs.runner import Runner, RunnerConfig
from bot.store import JobState, Store
from tests.doubles import Parts, assembled
from tests.factories import admitted, new_job

ALICE = "U0ALICE"
# The mock draws 1024x768 when no size is asked; medium at that size is $0.04 a picture.
ESTIMATE = 40_000


async def cancel_on_another_replica(parts: Parts, database: Path, job_id: str) -> None:
    store = await Store.open(database)
    other = Runner(
        store, parts.provider, parts.slack, parts.notifier,  # type: ignore[arg-type]
        parts.runner.config, parts.runner.inputs,
    )  # fmt: skip
    try:
        job = await store.get_job(job_id)
        assert job is not None and await other.cancel(job, ALICE)
    finally:
        await store.close()


def alice_job(channel: str = "C0GENERAL", **fields: object):  # type: ignore[no-untyped-def]
    return new_job(ALICE, ESTIMATE, channel=channel, prompt="a lighthouse at dawn", **fields)  # type: ignore[arg-type]


async def test_a_job_is_held_submitted_generated_and_delivered_under_one_card(
    tmp_path: Path,
) -> None:
    async with assembled(tmp_path) as parts:
        job = await admitted(parts.store, alice_job())
        parts.runner.launch(job.id)
        (done,) = await parts.finished()

    assert done.state == JobState.DELIVERED and done.card_done
    assert done.charge_status == "settled" and done.amount_micros == ESTIMATE
    (card,) = parts.slack.of("card")
    assert card.where == "C0GENERAL" and done.card_ts == parts.slack.cards[job.id]
    assert "Done in" in parts.slack.of("update")[-1].text
    (upload,) = parts.slack.of("upload")
    assert upload.where == "C0GENERAL" and upload.thread_ts == done.card_ts
    ((name, data),) = upload.files
    assert name == f"imagebot-{job.id}-1.png"
    assert Image.open(io.BytesIO(data)).size == (1024, 768)
    assert done.slack_file_ids == upload.extra["ids"]
    assert len(parts.provider.submitted) == 1


async def test_a_card_slack_refuses_fails_the_job_free_and_tells_the_person_in_a_dm(
    tmp_path: Path,
) -> None:
    async with assembled(tmp_path) as parts:
        parts.slack.refuse("chat.postMessage", "channel_not_found", "C0GONE")
        job = await admitted(parts.store, alice_job("C0GONE"))
        parts.runner.launch(job.id)
        (done,) = await parts.finished()

    assert done.state == JobState.FAILED and done.failure == ErrorKind.SLACK
    assert done.error_kind == "slack_channel_not_found"
    assert done.charge_status == "released" and parts.provider.submitted == []
    (told,) = parts.slack.told(ALICE)
    assert told.how == "dm" and "I couldn't start your image" in told.text
    assert "Nothing was charged" in told.text


async def test_the_person_is_told_through_their_response_url_while_it_works(
    tmp_path: Path,
) -> None:
    async with assembled(tmp_path) as parts:
        parts.slack.refuse("chat.postMessage", "is_archived", "C0OLD")
        new = dataclasses.replace(alice_job("C0OLD"), response_url=f"https://hooks/{ALICE}")
        parts.runner.launch((await admitted(parts.store, new)).id)
        await parts.finished()

    (told,) = parts.slack.told(ALICE)
    assert told.how == "respond" and "that channel is archived" in told.text


async def test_an_upload_slack_refuses_for_good_is_charged_and_told(tmp_path: Path) -> None:
    async with assembled(tmp_path) as parts:
        parts.slack.refuse("files.completeUploadExternal", "is_archived")
        job = await admitted(parts.store, alice_job())
        parts.runner.launch(job.id)
        (done,) = await parts.finished()

    assert done.state == JobState.FAILED and done.error_kind == "slack_is_archived"
    # The images were made: fal's bill (here the mock's) stands.
    assert done.charge_status == "settled" and done.amount_micros == ESTIMATE
    (told,) = parts.slack.told(ALICE)
    assert "Your image was made but I couldn't post it" in told.text


@pytest.mark.parametrize("elsewhere", [False, True], ids=["here", "on another replica"])
async def test_a_job_cancelled_while_it_waits_for_a_slot_is_free_and_never_sent(
    tmp_path: Path, elsewhere: bool
) -> None:
    one_at_a_time = RunnerConfig(max_at_fal=1, card_interval=0.01, spool=tmp_path / "spool")
    async with assembled(tmp_path, config=one_at_a_time) as parts:
        first = await admitted(parts.store, alice_job())
        waiting = await admitted(parts.store, alice_job())
        parts.runner.launch(first.id)
        parts.runner.launch(waiting.id)
        async with asyncio.timeout(10):
            while not (waiting.id in parts.slack.cards and parts.runner.slots.waiting):
                await asyncio.sleep(0.01)

        if elsewhere:
            # The click reaches a replica that does not hold the job: the holder ends its card.
            await cancel_on_another_replica(parts, tmp_path / "imagebot.db", waiting.id)
        else:
            assert await parts.runner.cancel(waiting, ALICE)
        done = {job.id: job for job in await parts.finished(2)}

    assert done[first.id].state == JobState.DELIVERED
    cancelled = done[waiting.id]
    assert cancelled.state == JobState.CANCELLED and cancelled.failure == ErrorKind.CANCELLED
    assert cancelled.charge_status == "released" and cancelled.amount_micros == 0
    assert len(parts.provider.submitted) == 1
    last = [s for s in parts.slack.of("update") if s.extra["ts"] == cancelled.card_ts][-1]
    assert f"Cancelled by <@{ALICE}>. Nothing was charged." in last.text


async def test_a_job_left_behind_resumes_under_the_card_it_already_has(tmp_path: Path) -> None:
    async with assembled(tmp_path) as parts:
        job = await admitted(parts.store, alice_job())
        # The process that admitted it posted its card and stopped before storing the card's ts.
        parts.slack.cards[job.id] = "1699999999.000001"
        again = Runner(
            parts.store, parts.provider, parts.slack, parts.notifier,  # type: ignore[arg-type]
            parts.runner.config, parts.runner.inputs,
        )  # fmt: skip
        assert await again.resume() == 1
        await again.wait_idle()
        (done,) = await parts.finished()

    assert done.state == JobState.DELIVERED and done.card_ts == "1699999999.000001"
    assert parts.slack.of("card") == []
    assert {s.extra["ts"] for s in parts.slack.of("update")} == {"1699999999.000001"}
    assert len(parts.slack.of("upload")) == 1


async def test_a_job_past_its_deadline_is_cancelled_and_counts_at_its_estimate(
    tmp_path: Path,
) -> None:
    short = RunnerConfig(deadline_seconds=0.2, card_interval=0.01, spool=tmp_path / "spool")
    async with assembled(tmp_path, config=short) as parts:
        parts.provider.delay = 30.0
        job = await admitted(parts.store, alice_job())
        parts.runner.launch(job.id)
        (done,) = await parts.finished()

    assert done.state == JobState.FAILED and done.failure == ErrorKind.OVERDUE
    assert done.cancel_requested_at is not None
    assert done.charge_status == "settled" and done.charge_estimated
    assert done.amount_micros == ESTIMATE
    assert "fal took too long" in parts.slack.of("update")[-1].text


async def test_a_job_another_replica_took_over_is_dropped_quietly(tmp_path: Path) -> None:
    async with assembled(tmp_path) as parts:
        parts.provider.delay = 1.0
        job = await admitted(parts.store, alice_job())
        parts.runner.launch(job.id)
        async with asyncio.timeout(20):
            while (await parts.store.get_job(job.id)).state != JobState.SUBMITTED:  # type: ignore[union-attr]
                await asyncio.sleep(0.02)
        other = await Store.open(tmp_path / "imagebot.db")
        try:
            assert await other.claim_jobs(every=True) == [job.id]  # the other replica has it
            async with asyncio.timeout(20):
                while parts.runner.active:
                    await asyncio.sleep(0.02)
        finally:
            await other.close()
        left = await parts.store.get_job(job.id)
        steps = [step for step, _ in await parts.store.transitions(job.id)]

    # Once fal was done, this replica's next step was refused: it stepped no further.
    assert left is not None and left.state == JobState.SUBMITTED
    assert left.charge_status == "held" and parts.slack.of("upload") == []
    assert steps[:3] == ["card", "submit_sent", "submitted"]
    assert not {"generated", "upload_started", "delivered", "card_done"} & set(steps)

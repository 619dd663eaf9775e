"""Conversations, against the mock provider and a recording Slack double: what a message to the
bot means (nothing, a new image, an edit of the thread's image or of the files it carries, or a
question back), each acted on once however often Slack delivers it, and every answer private:
ephemeral in the thread, else a DM, never a post others can read."""

from __future__ import annotations

from pathlib import Path

from bot.requests.conversation import IncomingMessage
from bot.slack.notifier import Requester
from bot.store import Job, JobState
from bot.testing.images import make_png
from tests.doubles import Parts, assembled
from tests.factories import new_job

CHANNEL = "C0GENERAL"


def said(text: str, ts: str = "1700000100.000001", **fields: object) -> IncomingMessage:
    fields.setdefault("user_id", "U0BOB")
    fields.setdefault("channel_id", CHANNEL)
    return IncomingMessage(ts=ts, text=text, **fields)  # type: ignore[arg-type]


async def delivered(parts: Parts) -> Job:
    who = Requester("U0ALICE", CHANNEL)
    await parts.intake.submit(who, new_job().request, origin="command")
    (job,) = await parts.finished()
    assert job.state == JobState.DELIVERED
    return job


async def test_a_message_not_for_the_bot_is_left_alone(tmp_path: Path) -> None:
    async with assembled(tmp_path) as parts:
        await parts.conversation.handle(said("lunch at noon?"))
        await parts.conversation.handle(said("and here", thread_ts="1600000000.000001"))
        jobs = await parts.store.jobs()

    assert jobs == [] and parts.slack.said == []


async def test_a_dm_makes_an_image_in_its_thread(tmp_path: Path) -> None:
    dm = said("a fox in the snow", channel_id="D0BOB", is_dm=True)
    async with assembled(tmp_path) as parts:
        await parts.conversation.handle(dm)
        (job,) = await parts.finished()

    assert (job.kind, job.origin, job.user_id) == ("generate", "dm", "U0BOB")
    assert job.thread_ts == dm.ts and job.prompt == "a fox in the snow"


async def test_a_reply_in_a_bot_thread_edits_its_latest_image_for_the_replier(
    tmp_path: Path,
) -> None:
    async with assembled(tmp_path) as parts:
        first = await delivered(parts)
        await parts.conversation.handle(said("make the sky navy", thread_ts=first.thread_ts))
        _, edit = await parts.finished(2)

    assert (edit.kind, edit.origin, edit.user_id) == ("edit", "reply", "U0BOB")
    assert edit.parent_job_id == first.id and edit.thread_ts == first.thread_ts
    assert edit.inputs[0].fal_url == first.images[0].url
    assert parts.provider.submitted[-1]["arguments"]["image_urls"] == [first.images[0].url]


async def test_a_mention_with_an_image_edits_that_image(tmp_path: Path) -> None:
    async with assembled(tmp_path) as parts:
        photo = parts.slack.share("photo.png", make_png("photo", 640, 480))
        await parts.conversation.handle(said("make it dusk", mentions_bot=True, files=[photo]))
        (job,) = await parts.finished()

    assert job.kind == "edit" and job.inputs[0].slack_file_id == photo.id
    assert (job.inputs[0].width, job.inputs[0].height) == (640, 480)
    (sent,) = parts.provider.submitted[-1]["arguments"]["image_urls"]
    assert sent.startswith("data:image/png;base64,")


async def test_images_without_words_get_one_question_however_often_they_arrive(
    tmp_path: Path,
) -> None:
    async with assembled(tmp_path) as parts:
        photo = parts.slack.share("photo.png", make_png("photo", 640, 480))
        message = said("", mentions_bot=True, files=[photo])
        await parts.conversation.handle(message)
        await parts.conversation.handle(message)
        jobs = await parts.store.jobs()

    assert jobs == []
    (asked,) = parts.slack.told("U0BOB")
    assert asked.how == "ephemeral" and asked.thread_ts == message.ts
    assert "What should I change?" in asked.text


async def test_an_answer_slack_will_not_show_ephemerally_goes_to_a_dm_never_the_thread(
    tmp_path: Path,
) -> None:
    async with assembled(tmp_path) as parts:
        parts.slack.refuse("chat.postEphemeral", "user_not_in_channel")
        await parts.conversation.handle(said("<@U0BOT> a cat --quality ultra", mentions_bot=True))

    (told,) = parts.slack.told("U0BOB")
    assert told.how == "dm" and "ultra" in told.text
    assert [s for s in parts.slack.said if s.where == CHANNEL] == []


async def test_a_file_that_is_no_image_is_refused_and_nothing_is_held(tmp_path: Path) -> None:
    async with assembled(tmp_path) as parts:
        notes = parts.slack.share("notes.txt", b"hello\n", "text/plain")
        await parts.conversation.handle(said("edit this", mentions_bot=True, files=[notes]))
        jobs = await parts.store.jobs()

    assert jobs == [] and parts.provider.submitted == []
    (told,) = parts.slack.told("U0BOB")
    assert "`notes.txt` isn't an image I can edit" in told.text and "Nothing was sent" in told.text


async def test_an_event_slack_delivers_again_is_handled_once(tmp_path: Path) -> None:
    message = said("a heron", channel_id="D0BOB", is_dm=True, event_id="Ev0123")
    retried = said(
        "a heron", ts="1700000100.000002", channel_id="D0BOB", is_dm=True, event_id="Ev0123"
    )
    async with assembled(tmp_path) as parts:
        await parts.conversation.handle(message)
        await parts.conversation.handle(retried)
        await parts.finished()
        jobs = await parts.store.jobs()

    assert len(jobs) == 1 and len(parts.provider.submitted) == 1

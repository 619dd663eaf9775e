"""The one notifier: a person is told privately (their response_url, else an ephemeral in their
conversation, else a DM; never a post others read), and an answer with a key only once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.slack.notifier import Notifier, Requester
from bot.store import Store
from tests.doubles import RecordingSlack


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "x.db")
    yield opened
    await opened.close()


async def test_the_response_url_first_then_ephemeral_then_a_dm(store: Store) -> None:
    slack = RecordingSlack()
    notifier = Notifier(slack, store)  # type: ignore[arg-type]
    ada = Requester("U0ADA", "C0GENERAL", response_url="https://hooks/U0ADA")
    assert await notifier.tell(ada, "one")
    slack.refuse("respond", "used_url", "https://hooks/U0ADA")  # its 5 answers are used
    assert await notifier.tell(ada, "two", thread_ts="1.2")
    slack.refuse("chat.postEphemeral", "channel_not_found")
    assert await notifier.tell(ada, "three")
    assert await notifier.tell(Requester("U0ADA"), "four")

    told = [(s.how, s.text) for s in slack.told("U0ADA")]
    assert told == [("respond", "one"), ("ephemeral", "two"), ("dm", "three"), ("dm", "four")]
    assert slack.of("ephemeral")[0].thread_ts == "1.2"
    assert slack.of("post") == []  # nothing the whole channel could read


async def test_a_key_is_told_once_and_slack_refusing_everything_is_no_crash(store: Store) -> None:
    slack = RecordingSlack()
    notifier = Notifier(slack, store)  # type: ignore[arg-type]
    bob = Requester("U0BOB", "C0GENERAL")
    assert await notifier.tell(bob, "once", once="msg:C0GENERAL:1.2:answer")
    assert not await notifier.tell(bob, "once", once="msg:C0GENERAL:1.2:answer")
    slack.refuse("chat.postEphemeral", "channel_not_found")
    slack.refuse("conversations.open", "user_not_found")
    assert not await notifier.tell(bob, "nowhere to go")

    assert [s.text for s in slack.told("U0BOB")] == ["once"]

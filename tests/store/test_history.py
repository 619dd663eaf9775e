"""Looking back in the store: what was sent to fal is kept (a data URI as its type and size),
and a person's requests are found by the words of their prompts, taken literally."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store import Admitted, Store
from tests import factories
from tests.factories import new_job


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "imagebot.db")
    yield opened
    await opened.close()


async def job_of(store: Store, prompt: str, user: str = "U1") -> str:
    admitted = await factories.admit(store, new_job(user, prompt=prompt))
    assert isinstance(admitted, Admitted)
    return admitted.job.id


async def test_sent_inputs_are_kept_with_data_uris_as_their_type_and_size(store: Store) -> None:
    job_id = await job_of(store, "a cat")
    inline = "data:image/png;base64," + "A" * 5000
    sent = {"prompt": "a cat", "image_urls": [inline, "https://fal.media/x.png"], "num_images": 2}

    assert await store.sent_arguments(job_id) is None
    await store.record_arguments(job_id, sent)

    assert await store.sent_arguments(job_id) == {
        "prompt": "a cat",
        "image_urls": ["data:image/png;base64,… (5,022 characters)", "https://fal.media/x.png"],
        "num_images": 2,
    }


async def test_words_match_literally_and_in_any_case(store: Store) -> None:
    await job_of(store, "a poster: 100% cotton")
    await job_of(store, "a 1000 piece puzzle")
    await job_of(store, "A_B testing banner")
    await job_of(store, "a poster: 100% cotton", user="U2")

    found = [j.prompt for j in await store.requests_of("U1", ["100%"])]
    assert found == ["a poster: 100% cotton"]
    assert [j.prompt for j in await store.requests_of("U1", ["a_b"])] == ["A_B testing banner"]
    assert len(await store.requests_of("U1", [])) == 3
    assert [j.prompt for j in await store.requests_of("U1", ["POSTER", "cotton"])] == [
        "a poster: 100% cotton"
    ]

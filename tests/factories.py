"""The values tests make again and again, made one way: requests, jobs to admit, jobs as the
store holds them, jobs taken through their steps, and spend rows."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bot.domain.request import ImageRequest, Quality
from bot.providers.catalog import Catalog, load_catalog
from bot.providers.pricing import gpt_image_2_prices
from bot.store import Admission, Admitted, ImageInput, Job, NewJob, Store
from bot.store.ledger import SpendRow
from bot.store.records import JobKind, held_job

GPT_IMAGE_2 = "openai/gpt-image-2"
# The shipped catalog, as the bot reads it with no operator's file.
CATALOG: Catalog = load_catalog(gpt_image_2_prices())
# A month so wide that no job a test admits falls outside it.
ALWAYS = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def new_job(
    user: str = "U1",
    estimate: int = 60_000,
    key: str | None = None,
    *,
    prompt: str = "a cat",
    quality: Quality = "medium",
    channel: str = "C1",
    kind: JobKind = "generate",
    endpoint: str = GPT_IMAGE_2,
    inputs: list[ImageInput] | None = None,
    **request: Any,
) -> NewJob:
    """What admission writes for a person's request (`request`: more ImageRequest fields)."""
    return NewJob(
        user_id=user, channel_id=channel, kind=kind, origin="command",
        request=ImageRequest(prompt=prompt, quality=quality, **request), endpoint_id=endpoint,
        model=endpoint, estimate_micros=estimate, inputs=inputs or [], source_key=key,
    )  # fmt: skip


def held(new: NewJob, job_id: str = "j0123456789ab", at_ms: int = 1_790_000_000_000) -> Job:
    """The job as admission returns it, without a store."""
    return held_job(job_id, new, at_ms)


async def admit(
    store: Store,
    new: NewJob,
    user_budget: int | None = None,
    team_budget: int | None = None,
    *,
    month: tuple[datetime, datetime] = ALWAYS,
) -> Admission:
    return await store.admit(
        new, month=month, user_budget_micros=user_budget, team_budget_micros=team_budget
    )


async def admitted(store: Store, new: NewJob | None = None, **month: Any) -> Job:
    """A job admitted with no budget in the way."""
    admission = await admit(store, new or new_job(), **month)
    assert isinstance(admission, Admitted), admission
    return admission.job


async def charged(
    store: Store,
    new: NewJob | None = None,
    micros: int = 42_100,
    *,
    units: Decimal = Decimal("0.0421"),
    request_id: str = "r",
    **month: Any,
) -> str:
    """A job admitted, sent to fal as `request_id` and generated, its charge settled at
    `micros`; its id."""
    job = await admitted(store, new, **month)
    assert await store.mark_submitted(job.id, request_id, "s", "r", "c")
    assert await store.mark_generated(job.id, [], units, micros)
    return job.id


def spend_row(user: str, spend: int, group: str | None = None, *, estimated: int = 0) -> SpendRow:
    """One person's settled spend in a group: one job, two images."""
    return SpendRow(user, group or user, 1, 2, spend, spend - estimated, estimated)

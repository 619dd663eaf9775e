"""What fal answers and what the bot makes of it: gateway errors are retried, a 400 to a cancel
is not a cancellation, a content-policy refusal named only by its error_type is one, and zero
billable units cost nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from bot.providers.base import ContentPolicy, Finished, Running, Submission, SubmitGuard
from bot.providers.fal.queue import FalProvider
from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.harness import bot_env, running_bot
from bot.testing.slack.standin import SlackStandIn
from tests.factories import CATALOG

BASE = "https://queue.fal.example/openai/gpt-image-2/requests/r1"
SUBMISSION = Submission("r1", f"{BASE}/status", BASE, f"{BASE}/cancel")
DONE = {"status": "COMPLETED", "request_id": "r1"}
RESULT = {"images": [{"url": "https://cdn.fal.example/r1/0.png", "width": 1024, "height": 768}]}


@pytest.fixture
async def provider(fal: FalStandIn) -> AsyncIterator[FalProvider]:
    made = FalProvider(fal.key, CATALOG)
    yield made
    await made.close()


def scripted(provider: FalProvider, answers: list[httpx.Response]) -> list[httpx.Request]:
    """fal's side replaced by these answers, in order (the wire, not our code, is swapped)."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    provider._http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return seen


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_gateway_errors_on_status_and_result_are_retried(
    provider: FalProvider, status: int
) -> None:
    gateway = {"detail": "Bad gateway", "error_type": "gateway_error"}
    seen = scripted(provider, [
        httpx.Response(status, json=gateway), httpx.Response(200, json=DONE),
        httpx.Response(status, json=gateway),
        httpx.Response(200, json=RESULT, headers={"x-fal-billable-units": "0.04"}),
    ])  # fmt: skip
    assert await provider.status(SUBMISSION) == Finished()
    generation = await provider.result(SUBMISSION)
    assert generation.billed_units == Decimal("0.04") and len(seen) == 4


async def test_a_refusal_named_only_by_its_error_type_is_a_content_policy_refusal(
    provider: FalProvider,
) -> None:
    body = {"detail": "The prompt was flagged", "error_type": "content_policy_violation"}
    scripted(provider, [httpx.Response(422, json=body)])
    with pytest.raises(ContentPolicy):
        await provider.result(SUBMISSION)
    scripted(
        provider,
        [
            httpx.Response(
                400, text="flagged", headers={"x-fal-error-type": "content_policy_violation"}
            )
        ],
    )
    with pytest.raises(ContentPolicy):
        await provider.result(SUBMISSION)


async def test_a_cancel_fal_answers_with_400_did_not_cancel(
    provider: FalProvider, fal: FalStandIn
) -> None:
    fal.default = FalBehaviour(run_seconds=30)
    guard = SubmitGuard(since=None, taken=nobody_has)
    arguments = {"prompt": "a cat", "quality": "low"}
    submission = await provider.submit("openai/gpt-image-2", arguments, guard)
    async with asyncio.timeout(20):
        while not isinstance(await provider.status(submission), Running):
            await asyncio.sleep(0.05)
    # fal answers ALREADY_COMPLETED once the request is done: it was not cancelled.
    fal.complete_now(submission.request_id)
    assert await provider.cancel(submission) == "too_late"
    (record,) = fal.requests
    assert not record.cancelled


async def nobody_has(request_id: str) -> bool:
    return False


async def test_zero_billable_units_cost_nothing(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path
) -> None:
    fal.default = FalBehaviour(run_seconds=0.2, billable_units=Decimal("0"))
    async with running_bot(slack, bot_env(slack, tmp_path, FAL_KEY=fal.key)) as bot:
        await bot.driver.command("/image", "a cat --quality low")
        async with asyncio.timeout(30):
            while not (jobs := await bot.store.jobs()) or not jobs[0].card_done:
                await asyncio.sleep(0.05)
    (job,) = jobs
    assert (job.charge_status, job.amount_micros, job.charge_estimated) == ("settled", 0, False)
    card = next(m for m in slack.messages("C0GENERAL") if m["ts"] == job.card_ts)
    assert "$0.00" in str(card["blocks"]) and "estimate" not in str(card["blocks"])

"""`imagebot reconcile`: the bot's charges against fal's billing records, fixed to fal's word,
and what admins see of it afterwards."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import ssl
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.store import JobState
from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.harness import bot_env, running_bot
from bot.testing.slack.standin import SlackStandIn
from tests.factories import charged, new_job
from tests.helpers import card_of, query

T2I = "openai/gpt-image-2"
ADMIN = "U0ADMIN"


async def submit_directly(fal: FalStandIn, arguments: dict[str, Any]) -> str:
    """A request fal runs and bills that the bot never hears of."""
    headers = {"Authorization": f"Key {fal.key}"}
    context = ssl.create_default_context(cafile=fal.ca_path)
    async with httpx.AsyncClient(verify=context, headers=headers) as http:
        answer = (await http.post(f"{fal.base_url}/{T2I}", json=arguments)).json()
        async with asyncio.timeout(20):
            while (await http.get(answer["status_url"])).status_code != 200:
                await asyncio.sleep(0.05)
    return str(answer["request_id"])


def imagebot(folder: Path, fal: FalStandIn, *args: str, key: str | None = None) -> str:
    env = {
        **os.environ,
        "IMAGEBOT_DATABASE_URL": f"sqlite:///{folder / 'imagebot.db'}",
        "FAL_ADMIN_KEY": key or fal.admin_key,
        "IMAGEBOT_FAL_API_URL": fal.api_url,
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", *args], env=env, cwd=folder, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def days() -> list[str]:
    today = datetime.now(UTC).date()
    return ["--since", str(today - timedelta(days=1)), "--until", str(today + timedelta(days=1))]


async def test_reconcile_finds_settles_and_books_then_finds_nothing_and_reports_show_it(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path
) -> None:
    slack.add_user(ADMIN, "ada")
    # fal's result said 0.0421 units, its billing record says 0.05: the charge differs.
    fal.default = FalBehaviour(run_seconds=0.1, billed_units=Decimal("0.05"))
    env = bot_env(slack, tmp_path, FAL_KEY=fal.key, IMAGEBOT_ADMINS=ADMIN)
    async with running_bot(slack, env) as bot:
        await bot.driver.command("/image", "a lighthouse at dusk --quality low")
        (job,) = await bot.finished()
    assert job.amount_micros == 42_100
    fal.default = FalBehaviour(run_seconds=0.1)
    # The same request again (a submit whose answer was lost, sent twice), and a stranger's.
    again = await submit_directly(fal, fal.requests[0].arguments)
    stranger = await submit_directly(fal, {"prompt": "someone else's sketch"})

    first = await asyncio.to_thread(imagebot, tmp_path, fal, "reconcile", *days())

    assert "differs                  1   bot    $0.0421   fal      $0.05" in first
    assert "unknown to the bot       2   bot      $0.00   fal    $0.0842" in first
    assert job.fal_request_id is not None and job.fal_request_id in first
    assert again in first and stranger in first
    assert f"same inputs as job {job.id}" in first and "3 to fix" in first
    assert query(tmp_path / "imagebot.db", "SELECT COUNT(*) FROM charges")[0][0] == 1

    fixed = await asyncio.to_thread(imagebot, tmp_path, fal, "reconcile", "--fix", *days())

    assert "settled" in fixed and "to fal's $0.05 (was $0.0421)" in fixed
    assert f"to <@U0ALICE> (job {job.id})" in fixed and "to unattributed" in fixed
    second = await asyncio.to_thread(imagebot, tmp_path, fal, "reconcile", "--fix", *days())
    assert "Nothing to fix." in second and "Fixed" not in second
    assert "matched                  3" in second
    lines = query(
        tmp_path / "imagebot.db",
        "SELECT line, user_id, amount_micros, previous_micros FROM charges ORDER BY id",
    )
    assert [tuple(row) for row in lines] == [
        ("job", "U0ALICE", 50_000, 42_100),
        ("extra_request", "U0ALICE", 42_100, None),
        ("unattributed", "unattributed", 42_100, None),
    ]

    report = await asyncio.to_thread(imagebot, tmp_path, fal, "report", "--format", "csv")
    rows = {row["user_id"]: row["spend_usd"] for row in csv.DictReader(io.StringIO(report))}
    assert rows == {"U0ALICE": "0.0921", "unattributed": "0.0421"}
    async with running_bot(slack, env) as bot:
        await bot.driver.command("/image-admin", "report", user=ADMIN)
        await bot.idle()
    told = str(slack.responses[-1].body)
    assert "unattributed (fal billed, no job)" in told and "<@unattributed>" not in told
    assert "$0.1342" in told


async def test_a_released_charge_fal_billed_is_not_free_after_reconciling(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path
) -> None:
    """fal's records are the final word even against a 'nothing was charged' of ours."""
    fal.default = FalBehaviour(outcome="validation_error", run_seconds=0.1)
    env = bot_env(slack, tmp_path, FAL_KEY=fal.key, FAL_ADMIN_KEY=fal.admin_key)
    async with running_bot(slack, env) as bot:
        await bot.driver.command("/image", "a refused lighthouse --quality low")
        (job,) = await bot.finished()
        assert job.state == JobState.FAILED and job.amount_micros == 0
        # fal's record says otherwise (the header was lost on the way, say).
        fal.requests[0].behaviour.error_units = Decimal("0.0123")
        daily = bot.services.maintenance.daily
        assert daily is not None
        await daily()
        settled = await bot.store.get_job(job.id)
    assert settled is not None and settled.amount_micros == 12_300
    assert settled.charge_status == "settled" and not settled.charge_estimated


async def test_without_an_admin_key_fal_refuses_billing_events_and_the_command_says_so(
    fal: FalStandIn, tmp_path: Path
) -> None:
    from bot.store import Store

    await (await Store.open(tmp_path / "imagebot.db")).close()
    env = {
        **os.environ,
        "IMAGEBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'imagebot.db'}",
        "FAL_KEY": fal.key,
        "IMAGEBOT_FAL_API_URL": fal.api_url,
    }
    env.pop("FAL_ADMIN_KEY", None)
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bot", "reconcile"], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "403" in done.stderr and "admin API key" in done.stderr


@pytest.mark.parametrize("with_admin_key", [True, False])
async def test_the_daily_check_runs_only_with_an_admin_key(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path, with_admin_key: bool
) -> None:
    extra = {"FAL_ADMIN_KEY": fal.admin_key} if with_admin_key else {}
    async with running_bot(slack, bot_env(slack, tmp_path, FAL_KEY=fal.key, **extra)) as bot:
        assert (bot.services.maintenance.daily is not None) is with_admin_key


async def test_a_request_fal_billed_under_a_fallback_is_recorded_as_such(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path
) -> None:
    """fal falls back only without `x-fal-disable-fallbacks`, which the bot always sends; a
    request billed under another endpoint anyway is noted on its job."""
    from bot.store import Store

    fal.prices["fal-ai/fallback"] = Decimal("1")
    fal.default = FalBehaviour(run_seconds=0.05, fallback_endpoint="fal-ai/fallback")
    request_id = await submit_directly(fal, {"prompt": "a lighthouse", "quality": "low"})
    store = await Store.open(tmp_path / "imagebot.db")
    try:
        new = new_job(
            "U0ALICE",
            10_000,
            prompt="a lighthouse",
            quality="low",
            channel="C0GENERAL",
            endpoint=T2I,
        )
        await charged(store, new, request_id=request_id)
    finally:
        await store.close()

    out = await asyncio.to_thread(imagebot, tmp_path, fal, "reconcile", "--fix", *days())

    assert "billed by fal-ai/fallback" in out and "matched                  1" in out
    (row,) = query(tmp_path / "imagebot.db", "SELECT billed_endpoint FROM jobs")
    assert row["billed_endpoint"] == "fal-ai/fallback"


async def test_a_lost_submit_fal_could_not_confirm_is_booked_to_its_person_later(
    slack: SlackStandIn, fal: FalStandIn, tmp_path: Path
) -> None:
    """With fal's history unreadable, a submit whose answer was lost is not sent again (fal
    may already run it): the person hears it is unconfirmed, and fal's bill reaches their
    spend when reconciliation finds the request."""
    fal.plan(FalBehaviour(outcome="submit_drop", fail_times=1, run_seconds=0.05))
    unreadable = {"IMAGEBOT_FAL_API_URL": "https://127.0.0.1:9/v1"}
    env = bot_env(slack, tmp_path, FAL_KEY=fal.key, **unreadable)
    async with running_bot(slack, env) as bot:
        await bot.driver.command("/image", "a lighthouse nobody heard back about --quality low")
        (job,) = await bot.finished()
    assert job.state == JobState.FAILED and job.error_kind == "unconfirmed"
    assert job.charge_status == "released" and len(fal.requests) == 1
    card = card_of(slack, job)
    assert "could not say whether it got the request" in card
    assert "Nothing was charged" not in card

    await asyncio.to_thread(imagebot, tmp_path, fal, "reconcile", "--fix", *days())

    lines = query(tmp_path / "imagebot.db", "SELECT line, user_id, amount_micros FROM charges")
    assert [tuple(row) for row in lines] == [
        ("job", "U0ALICE", 0),
        ("extra_request", "U0ALICE", 42_100),
    ]

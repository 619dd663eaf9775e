"""Spend end to end: charges at fal's bill, budgets under concurrency, usage, reports, notices."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from bot.domain.clock import Clock, system_clock
from bot.domain.periods import month_of
from bot.store import JobState, Store
from bot.testing.fal.standin import FalBehaviour, FalStandIn
from bot.testing.harness import RunningBot, bot_env, running_bot
from bot.testing.slack.standin import SlackStandIn
from tests.factories import charged, new_job
from tests.helpers import query

ADMIN = "U0ADMIN"


@pytest.fixture
def make_bot(slack: SlackStandIn, fal: FalStandIn, tmp_path: Path) -> Callable[..., object]:
    slack.add_user(ADMIN, "ada")
    fal.default = FalBehaviour(run_seconds=0.2, billable_units=Decimal("0.0421"))

    def make(clock: Clock = system_clock, **extra: str) -> object:
        env = bot_env(slack, tmp_path, FAL_KEY=fal.key, IMAGEBOT_ADMINS=ADMIN, **extra)
        return running_bot(slack, env, clock=clock)

    return make


@pytest.fixture
async def bot(make_bot: Callable[..., object]) -> AsyncIterator[RunningBot]:
    async with make_bot() as running:  # type: ignore[attr-defined]
        yield running


def spend_by_user(data: bytes) -> dict[str, Decimal]:
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert rows and {"user_id", "spend_usd", "user_name", "jobs", "images"} <= set(rows[0])
    return {row["user_id"]: Decimal(row["spend_usd"]) for row in rows}


async def test_reports_in_slack_and_on_the_command_line_show_the_billed_cost(
    bot: RunningBot, slack: SlackStandIn, tmp_path: Path
) -> None:
    for user, count in (("U0ALICE", 3), ("U0BOB", 2)):
        for number in range(count):
            await bot.driver.command("/image", f"picture {number} --quality low", user=user)
    await bot.finished(5)

    await bot.driver.command("/image-admin", "report --csv", user=ADMIN)
    upload = await slack.wait_for(
        lambda: next(
            (u for u in slack.uploads if u.filename.endswith(".csv") and u.completed), None
        )
    )
    dm = slack.channel(upload.channel_id)
    assert dm.is_im and dm.user == ADMIN
    assert spend_by_user(upload.bytes) == {"U0ALICE": Decimal("0.1263"), "U0BOB": Decimal("0.0842")}

    csv_out = await cli_report(tmp_path, "--format", "csv")
    assert spend_by_user(csv_out) == {"U0ALICE": Decimal("0.1263"), "U0BOB": Decimal("0.0842")}
    # The bot remembered the names Slack gave it: the command line shows them too.
    named = {
        row["user_id"]: row["user_name"] for row in csv.DictReader(io.StringIO(csv_out.decode()))
    }
    assert named == {"U0ALICE": "alice", "U0BOB": "bob"}
    table = (await cli_report(tmp_path, "--format", "table", "--by", "quality")).decode()
    assert "low" in table and "0.21" in table


async def test_the_command_line_report_knows_names_the_bot_has_seen(
    bot: RunningBot, slack: SlackStandIn, tmp_path: Path
) -> None:
    await bot.driver.command("/image", "a fox --quality low", user="U0BOB")
    await bot.finished(1)

    rows = csv.DictReader(io.StringIO((await cli_report(tmp_path, "--format", "csv")).decode()))
    assert [(row["user_id"], row["user_name"]) for row in rows] == [("U0BOB", "bob")]
    assert len(slack.calls_to("users.info")) == 1


async def cli_report(folder: Path, *args: str, **settings: str) -> bytes:
    """`imagebot report` in its own process, on the bot's database."""
    env = {**os.environ, "IMAGEBOT_DATABASE_URL": f"sqlite:///{folder / 'imagebot.db'}"}
    env.update(settings)
    command = [sys.executable, "-m", "bot", "report", *args]
    done = await asyncio.to_thread(
        subprocess.run, command, env=env, cwd=folder, capture_output=True, timeout=60, check=True
    )
    return done.stdout


def dms_to(slack: SlackStandIn, user: str) -> list[str]:
    """What the bot wrote to `user` in a DM, in order."""
    return [
        c.args["text"]
        for c in slack.calls_to("chat.postMessage")
        if c.args["channel"].startswith("D") and slack.channel(c.args["channel"]).user == user
    ]


async def watch_spend(db: Path, stop: asyncio.Event, user: str | None = None) -> int:
    """The highest settled + held amount seen while the race runs."""
    highest = 0
    where, args = ("AND user_id = ?", (user,)) if user else ("", ())
    while not stop.is_set():
        rows = query(
            db, f"SELECT COALESCE(SUM(amount_micros), 0) FROM charges WHERE 1 {where}", args
        )
        highest = max(highest, int(rows[0][0]))
        await asyncio.sleep(0.01)
    return highest


async def test_budget_race_for_one_person(
    make_bot: Callable[..., object], slack: SlackStandIn, fal: FalStandIn, tmp_path: Path
) -> None:
    fal.default = FalBehaviour(run_seconds=1.0, billable_units=Decimal("0.0421"))
    async with make_bot(IMAGEBOT_USER_MONTHLY_BUDGET="0.10") as bot:  # type: ignore[attr-defined]
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch_spend(tmp_path / "imagebot.db", stop, "U0ALICE"))
        replies = await asyncio.gather(
            *(bot.driver.command("/image", f"cat {n} --size square") for n in range(10))
        )
        await bot.finished(1)
        stop.set()
        highest = await watcher

    assert all(r.status == 200 for r in replies)
    assert highest <= 100_000
    assert len(fal.requests) == 1
    refusals = [r for r in slack.responses if "monthly budget" in r.body.get("text", "")]
    assert len(refusals) == 9
    assert "left" in refusals[0].body["text"] and "resets" in refusals[0].body["text"]


async def test_budget_race_for_the_team(
    make_bot: Callable[..., object], slack: SlackStandIn, fal: FalStandIn, tmp_path: Path
) -> None:
    slack.add_user("U0CAROL", "carol")
    fal.default = FalBehaviour(run_seconds=1.0, billable_units=Decimal("0.06"))
    async with make_bot(IMAGEBOT_TEAM_MONTHLY_BUDGET="0.25") as bot:  # type: ignore[attr-defined]
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch_spend(tmp_path / "imagebot.db", stop))
        await asyncio.gather(
            *(
                bot.driver.command("/image", f"{user} {n} --size square", user=user)
                for user in ("U0ALICE", "U0BOB", "U0CAROL")
                for n in range(4)
            )
        )
        jobs = await bot.finished(4)
        stop.set()
        highest = await watcher

    assert highest <= 250_000
    assert len(jobs) == len(fal.requests) == 4  # 4 x 0.06 <= 0.25 < 5 x 0.06
    refusals = [r for r in slack.responses if "team's monthly budget" in r.body.get("text", "")]
    assert len(refusals) == 8


@pytest.mark.parametrize(
    ("behaviour", "kind"),
    [
        (FalBehaviour(outcome="result_500"), "unavailable"),
        (FalBehaviour(outcome="submit_500"), "unavailable"),
        (
            FalBehaviour(outcome="content_policy", content_policy_category="violence"),
            "content_policy",
        ),
    ],
)
async def test_failed_jobs_leave_no_charge(
    bot: RunningBot, slack: SlackStandIn, fal: FalStandIn, behaviour: FalBehaviour, kind: str
) -> None:
    fal.default = behaviour

    await bot.driver.command("/image", "something --quality low")

    (job,) = await bot.finished(1)
    assert job.state == JobState.FAILED and job.error_kind == kind
    assert job.charge_status == "released" and job.amount_micros == 0
    card = next(m for m in slack.messages("C0GENERAL") if m["ts"] == job.card_ts)
    if kind == "content_policy":
        assert "declined this prompt" in str(card["blocks"]) and "violence" in str(card["blocks"])


async def test_non_admins_are_refused_without_revealing_anything(
    bot: RunningBot, slack: SlackStandIn
) -> None:
    await bot.driver.command("/image", "a cat --quality low")
    await bot.finished(1)

    for text in ("report --csv", "report", "budget <@U0ALICE> 100", "help"):
        await bot.driver.command("/image-admin", text, user="U0BOB")
    await bot.idle()

    assert [u for u in slack.uploads if u.filename.endswith(".csv")] == []
    texts = [r.body["text"] for r in slack.responses]
    assert len(texts) == 4 and all(
        t == "Only imagebot admins can use `/image-admin`." for t in texts
    )
    assert await bot.services.budgets.of_user("U0ALICE") == 20_000_000


async def test_admin_sets_a_budget_and_it_applies(bot: RunningBot, slack: SlackStandIn) -> None:
    await bot.driver.command("/image-admin", "budget <@U0BOB|bob> 0.05", user=ADMIN)
    await bot.idle()
    assert "<@U0BOB>'s monthly budget is now $0.05 a month" in slack.responses[-1].body["text"]

    await bot.driver.command("/image", "a cat --size square", user="U0BOB")
    await bot.idle()

    assert "would go over your monthly budget" in slack.responses[-1].body["text"]
    assert await bot.store.jobs() == []


async def test_usage_shows_spend_budget_and_recent_requests(
    bot: RunningBot, slack: SlackStandIn
) -> None:
    await bot.driver.command("/image", "a red bicycle --quality low --n 2")
    await bot.finished(1)

    await bot.driver.command("/image-usage", "")
    await bot.idle()

    text = slack.responses[-1].body["text"]
    assert "$0.0421 of $20.00 used" in text and "$19.9579 left" in text
    assert "2 images from 1 finished requests" in text
    assert "a red bicycle" in text


async def test_eighty_percent_notice_once_a_month(
    make_bot: Callable[..., object], slack: SlackStandIn
) -> None:
    async with make_bot(IMAGEBOT_USER_MONTHLY_BUDGET="0.10") as bot:  # type: ignore[attr-defined]
        for number in range(2):
            await bot.driver.command("/image", f"a kite {number} --quality low")
            await bot.finished(number + 1)
        await bot.driver.command("/image", "one more --quality low")
        await bot.idle()

    dms = [
        m for c in slack.calls_to("chat.postMessage") if (m := c.args)["channel"].startswith("D")
    ]
    notices = [m for m in dms if "Heads up" in m["text"]]
    assert len(notices) == 1 and "84%" in notices[0]["text"]


async def test_app_home_shows_own_usage_and_admins_the_team(
    bot: RunningBot, slack: SlackStandIn
) -> None:
    await bot.driver.command("/image", "a lamp --quality low")
    await bot.finished(1)

    await bot.driver.event({"type": "app_home_opened", "user": "U0BOB", "tab": "home"})
    await bot.driver.event({"type": "app_home_opened", "user": ADMIN, "tab": "home"})
    await bot.idle()

    published = {v.user_id: v.view for v in slack.views if v.method == "views.publish"}
    assert "Team spend" not in str(published["U0BOB"])
    admin_view = str(published[ADMIN])
    assert "Team spend" in admin_view and "<@U0ALICE>" in admin_view
    chart = [b for b in published[ADMIN]["blocks"] if b["type"] == "image"]
    assert chart and chart[0]["slack_file"]["id"] in {u.file_id for u in slack.uploads}


async def test_a_job_at_2359_on_the_last_day_counts_for_that_month(tmp_path: Path) -> None:
    zone = ZoneInfo("America/New_York")
    late = datetime(2026, 11, 30, 23, 59, tzinfo=zone)
    store = await Store.open(tmp_path / "x.db", clock=lambda: late.astimezone(UTC))
    try:
        month = month_of(late, zone)
        late_cat = new_job(estimate=10_000, prompt="late cat", quality="low")
        await charged(store, late_cat, 42_100, month=month.bounds())
        november = await store.report(month, "user", zone)
        december = await store.report(
            month_of(datetime(2026, 12, 2, tzinfo=zone), zone), "user", zone
        )
    finally:
        await store.close()
    assert month.label == "November 2026"
    assert november.spend_micros == 42_100 and december.spend_micros == 0


async def test_admins_hear_of_the_team_budget_at_80_and_100_percent_once_each(
    make_bot: Callable[..., object], slack: SlackStandIn
) -> None:
    async with make_bot(IMAGEBOT_TEAM_MONTHLY_BUDGET="0.10") as bot:  # type: ignore[attr-defined]
        for number in range(4):
            await bot.driver.command("/image", f"a kite {number} --quality low")
            await bot.idle()
            await bot.finished(min(number + 1, 3))

    to_admin = dms_to(slack, ADMIN)
    assert len(to_admin) == 2
    assert "84%" in to_admin[0] and "used up" in to_admin[1]


async def test_no_stale_80_percent_notice_once_the_team_budget_is_used_up(
    make_bot: Callable[..., object], slack: SlackStandIn
) -> None:
    async with make_bot(IMAGEBOT_TEAM_MONTHLY_BUDGET="0.04") as bot:  # type: ignore[attr-defined]
        await bot.driver.command("/image", "a kite --quality low")  # settles 0.0421: 105%
        await bot.finished(1)
        await bot.driver.command("/image-admin", "budget team 0.06", user=ADMIN)
        await bot.driver.command("/image", "another kite --quality low")  # 140%
        await bot.finished(2)

    to_admin = dms_to(slack, ADMIN)
    assert len(to_admin) == 1 and "used up" in to_admin[0]


# Real dates the suite must pass on: mid-year, the minute it once broke, a leap-year's end of
# February, and the last hour of 2036. The bot's own clock is fixed; only the machine's moves.
REAL_DATES = [
    datetime(2026, 6, 15, 12, tzinfo=UTC),
    datetime(2026, 12, 1, 5, 10, tzinfo=UTC),
    datetime(2032, 2, 29, 23, 30, tzinfo=UTC),
    datetime(2036, 12, 31, 23, 0, tzinfo=UTC),
]


@pytest.mark.parametrize("today", REAL_DATES, ids=[f"{d:%Y-%m-%dT%H:%M}" for d in REAL_DATES])
async def test_the_month_follows_the_team_time_zone_from_request_to_report(
    make_bot: Callable[..., object], slack: SlackStandIn, tmp_path: Path, today: datetime
) -> None:
    zone = ZoneInfo("America/New_York")
    late = datetime(2026, 11, 30, 23, 59, tzinfo=zone).astimezone(UTC)  # 04:59 on 1 Dec in UTC
    with time_machine.travel(today, tick=True):
        async with make_bot(clock=lambda: late, IMAGEBOT_TIMEZONE="America/New_York") as bot:  # type: ignore[attr-defined]
            await bot.driver.command("/image", "a late owl --quality low")
            await bot.finished(1)
            await bot.driver.command("/image-usage", "")
            await bot.idle()
            usage = slack.responses[-1].body["text"]

    assert "November 2026" in usage and "$0.0421 of $20.00" in usage
    zone_name = {"IMAGEBOT_TIMEZONE": "America/New_York"}
    november = await cli_report(
        tmp_path, "--format", "csv", "--since", "2026-11-01", "--until", "2026-11-30", **zone_name
    )
    december = await cli_report(
        tmp_path, "--format", "csv", "--since", "2026-12-01", "--until", "2026-12-31", **zone_name
    )
    assert spend_by_user(november) == {"U0ALICE": Decimal("0.0421")}
    assert b"U0ALICE" not in december

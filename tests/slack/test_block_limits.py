"""Whatever people type, every message, modal and tab the bot builds is one Slack accepts (the
stand-in's Block Kit checks), and no notification text carries a live mention."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.failures import ErrorKind, failure_text, undeliverable_text
from bot.domain.periods import month_of
from bot.jobs.delivery import image_alt_text, image_title
from bot.slack.blockkit import mrkdwn_length, text_blocks
from bot.slack.views.card import (
    Cancelled,
    CardStatus,
    Done,
    Failed,
    Generating,
    InQueue,
    Starting,
    Uploading,
    Waiting,
    card,
    status_line,
)
from bot.slack.views.details import details_text
from bot.slack.views.history import history_text, thumbnail_blocks
from bot.slack.views.home import home_view, models_blocks, team_blocks
from bot.slack.views.image_actions import ImagePrices, image_actions
from bot.slack.views.menus import Menu, MenuModel
from bot.slack.views.modal import EditOfFiles, EditOfJob, edit_modal, new_image_modal
from bot.slack.views.reports import report_blocks
from bot.slack.views.usage import recent_line
from bot.store.ledger import RecentCharge, SpendRow
from bot.store.records import ImageInput, Job, JobState
from bot.store.report import Report
from bot.testing.slack.blocks import check_message_blocks, check_view, counted
from tests.factories import held, new_job

# What makes text dangerous to Slack: markup characters, mentions and links, long lines,
# characters outside the BMP (two UTF-16 units each), joiners.
PIECES = [
    "&", "<", ">", "&amp;", "&lt;", "\n", "\n\n", "<!channel>", "<!here>", "<!everyone>",
    "<!subteam^S0TEAM>", "<@U123>", "<#C123>", "<https://x|y>", "*", "`", ">", "é", "😀",
    "\u200d", "a", " ", "word ",
]  # fmt: skip
ANYTHING = st.one_of(st.sampled_from(PIECES), st.text(max_size=40))
# Prompts from 2 to 32,000 characters: a few hundred pieces, repeated to reach the long ones.
PROMPTS = st.builds(
    lambda parts, times: ("x" + "".join(parts) * times)[:32_000].ljust(2, "x"),
    st.lists(ANYTHING, max_size=60),
    st.integers(min_value=1, max_value=2_000),
)
SHORT = st.builds(lambda parts: "".join(parts), st.lists(ANYTHING, max_size=30))
IDS = st.from_regex(r"U[A-Z0-9]{8,10}", fullmatch=True)
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Paris")
LIVE = re.compile(r"<[!@#]|<https?:|<mailto:|<[^<>]*\|")
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def job(prompt: str, *, kind: str = "generate", user: str = "U0ALICE", note: str = "") -> Job:
    inputs = [ImageInput(name="x.png")] if kind == "edit" else []
    new = new_job(
        user, 41_000, prompt=prompt, channel="C0GENERAL", kind=kind,  # type: ignore[arg-type]
        inputs=inputs, size_note=note or None,
    )  # fmt: skip
    return held(new)


def statuses(reason: str, by: str) -> list[CardStatus]:
    return [
        Starting(), Waiting(0), Waiting(3), InQueue(4), Generating(12), Uploading(),
        Done(23, 41_200, False), Done(23, 41_200, True), Failed(reason), Cancelled(by),
    ]  # fmt: skip


def accept_any_file(ref: object) -> str | None:
    return None


def assert_no_live_mention(text: str, *allowed: str) -> None:
    for mention in allowed:
        text = text.replace(mention, "")
    assert not LIVE.search(text), text[:500]


@PROPERTY
@given(prompt=PROMPTS, reason=SHORT, note=SHORT, user=IDS)
def test_cards_and_status_lines_are_always_accepted(
    prompt: str, reason: str, note: str, user: str
) -> None:
    for kind in ("generate", "edit"):
        made = job(prompt, kind=kind, user=user, note=note)
        for status in statuses(failure_text(ErrorKind.INVALID_INPUT, reason, made.id), user):
            for short in (False, True):
                fallback, blocks = card(made, status, short=short)
                check_message_blocks(blocks, accept_any_file)
                assert_no_live_mention(fallback, f"<@{user}>")
                assert counted(fallback, "mrkdwn") <= 3000
            check_message_blocks(text_blocks(status_line(status)), accept_any_file)


@PROPERTY
@given(prompt=PROMPTS, names=st.lists(SHORT, max_size=5), count=st.integers(1, 4))
def test_upload_titles_and_alt_texts_fit_slack_files(
    prompt: str, names: list[str], count: int
) -> None:
    made = job(prompt)
    for index in range(1, count + 1):
        # files.completeUploadExternal titles and getUploadURLExternal alt_txt (1,000).
        assert counted(image_title(made, index), "plain_text") <= 250
    assert 0 < counted(image_alt_text(made), "plain_text") <= 1000


@PROPERTY
@given(code=SHORT, file_name=SHORT)
def test_messages_naming_files_and_slack_errors_are_accepted(code: str, file_name: str) -> None:
    for before_start in (False, True):
        text = undeliverable_text(code, before_start=before_start)
        check_message_blocks(text_blocks(text), accept_any_file)
    fetched = failure_text(ErrorKind.INPUT_UNAVAILABLE, file_name, "j1")
    check_message_blocks(text_blocks(fetched), accept_any_file)


NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,150}", fullmatch=True)
MENUS = st.builds(
    lambda models, styles: Menu(models[0], tuple(models), tuple(dict.fromkeys(styles))),
    st.lists(
        st.builds(MenuModel, NAMES, SHORT.map(lambda s: s or "x"), st.booleans(), st.booleans()),
        min_size=1,
        max_size=130,
    ),
    st.lists(NAMES, max_size=130),
)


@PROPERTY
@given(count=st.integers(1, 4), ids=st.lists(SHORT, min_size=1, max_size=20), menu=MENUS)
def test_the_dialogs_are_always_accepted(count: int, ids: list[str], menu: Menu) -> None:
    for target in (EditOfJob(ids[0]), EditOfFiles(ids[0], ids[-1], tuple(ids))):
        check_view(edit_modal(target, menu, image_count=count), accept_any_file)
    picked = menu.models[-1].name
    check_view(new_image_modal(menu, model=picked, style=ids[0]), accept_any_file)


@PROPERTY
@given(prompt=PROMPTS, values=st.lists(st.tuples(SHORT, PROMPTS), max_size=12))
def test_details_are_always_accepted(prompt: str, values: list[tuple[str, str]]) -> None:
    job = held(new_job(prompt=prompt))
    sent = {key or "k": value for key, value in values}
    for arguments in (sent, None):
        text, blocks = details_text(job, "GPT <Image> & 2", arguments)
        check_message_blocks(blocks, accept_any_file)
        assert_no_live_mention(text)
        assert "*Cost:*" in blocks[-1]["text"]["text"]  # nothing after the prompt is lost


def test_menus_of_many_long_names_keep_to_slacks_limits() -> None:
    models = tuple(
        MenuModel(f"model-{n}", "A long model label " * 10, True, True) for n in range(130)
    )
    menu = Menu(models[0], models, tuple(f"style-{n}" for n in range(130)))

    check_view(edit_modal(EditOfJob("j1"), menu), accept_any_file)
    check_view(new_image_modal(menu, model="model-7", style="style-129"), accept_any_file)
    check_view(home_view([], [], models_blocks(menu)), accept_any_file)


@PROPERTY
@given(
    rows=st.lists(
        st.tuples(IDS, SHORT, st.integers(0, 10**9), st.integers(0, 10**9)), max_size=120
    ),
    by=st.sampled_from(["user", "model", "quality", "channel", "day"]),
)
def test_reports_are_always_accepted(rows: list[tuple[str, str, int, int]], by: str) -> None:
    def group(key: str, at: int) -> str:
        if by == "day":
            return date(2026, 11, 1 + at % 28).isoformat()
        if by == "channel":
            return f"C{at:08d}"
        return key or "?"

    spend = [
        SpendRow(
            user, group(key, at), 1, 2, total, total - extra % (total + 1), extra % (total + 1)
        )
        for at, (user, key, total, extra) in enumerate(rows)
    ]
    report = Report(month_of(NOW, ZONE), by, spend, {u: g for u, g, _, _ in rows}, 1_000)
    check_message_blocks(report_blocks(report), accept_any_file)


@PROPERTY
@given(prompts=st.lists(PROMPTS, min_size=1, max_size=5), budget=st.integers(0, 10**9), menu=MENUS)
def test_usage_and_app_home_are_always_accepted(
    prompts: list[str], budget: int, menu: Menu
) -> None:
    recent = [
        RecentCharge("j1", NOW, prompt, JobState.DELIVERED, "settled", 41_200, False, 1)
        for prompt in prompts
    ]
    lines = ["*Your image spend in November 2026*", *[recent_line(c, ZONE) for c in recent]]
    usage = "\n".join(lines)
    mine = text_blocks(usage)
    check_message_blocks(mine, accept_any_file)
    for line in lines[1:]:
        assert_no_live_mention(line)
        assert mrkdwn_length(line) < 200
    rows = [SpendRow(f"U{n:09d}", f"U{n:09d}", 1, 1, n * 1000, n * 1000, 0) for n in range(40)]
    report = Report(month_of(NOW, ZONE), "user", rows, {})
    team = team_blocks(report, budget or None, "November 2026")
    models = models_blocks(menu)
    made = [
        replace(held(new_job(prompt=prompt), f"j{n}"), slack_file_ids=[f"F{n}"], thread_ts="1.2")
        for n, prompt in enumerate(prompts * 2)
    ][:6]
    thumbs = thumbnail_blocks(made, lambda job: f"https://t.slack.com/archives/C1/p{job.id}")
    check_view(home_view(mine, team, models, "F0CHART", thumbs=thumbs), accept_any_file)
    check_view(home_view(mine, [], models, thumbs=thumbs), accept_any_file)
    text, blocks = history_text(made * 4, prompts[:1], ZONE, str, lambda job: None)
    check_message_blocks(blocks, accept_any_file)
    assert_no_live_mention(text.split("\n", 1)[1])


@given(st.integers(min_value=1, max_value=6), st.text(min_size=1, max_size=40))
def test_the_buttons_under_a_result_fit_slack_for_every_number_of_images(
    images: int, job_id: str
) -> None:
    prices = [ImagePrices(more_micros=220_000, upscale_micros=4_000)] * images
    text, blocks = image_actions(job_id, prices)
    check_message_blocks(blocks, lambda _: None)
    values = [e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert len(values) == 3 * images and all(len(v) <= 2000 for v in values)
    assert values[-1] == f"{job_id}:{images}" and "Upscale" in str(blocks[-1])
    assert "<" not in text

"""Example tests at each edge the property tests range over: a request that exactly fits what
is left of a budget, a $0 budget, fal's pixel and ratio bounds, counts and lengths, price files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings
from bot.domain.request import OptionError
from bot.domain.usd import format_usd, parse_usd, to_micros
from bot.providers.catalog import price_table
from bot.providers.pricing import gpt_image_2_prices
from bot.requests.grammar import is_help, parse_request
from bot.store import Admitted, NewJob, Refused, Store
from tests import factories
from tests.factories import new_job

MONTH = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
NOW = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.fixture
async def store(target: Path | str) -> AsyncIterator[Store]:
    opened = await Store.open(target, clock=lambda: NOW)
    yield opened
    await opened.close()


async def admit(store: Store, job: NewJob, user: int | None, team: int | None = None) -> object:
    return await factories.admit(store, job, user, team, month=MONTH)


async def test_a_request_that_exactly_fits_the_budget_left_is_admitted(store: Store) -> None:
    assert isinstance(await admit(store, new_job("U1", 60_000), 100_000), Admitted)
    assert isinstance(await admit(store, new_job("U1", 40_000), 100_000), Admitted)  # 100%
    refused = await admit(store, new_job("U1", 1), 100_000)
    assert isinstance(refused, Refused) and refused.left_micros == 0


async def test_a_request_that_exactly_fits_the_team_budget_left_is_admitted(store: Store) -> None:
    assert isinstance(await admit(store, new_job("U1", 70_000), None, 100_000), Admitted)
    assert isinstance(await admit(store, new_job("U2", 30_000), None, 100_000), Admitted)
    refused = await admit(store, new_job("U3", 1), None, 100_000)
    assert isinstance(refused, Refused) and refused.scope == "team"


async def test_one_micro_dollar_over_is_refused_and_held_money_counts(store: Store) -> None:
    held = await admit(store, new_job("U1", 50_000), 100_000)
    assert isinstance(held, Admitted)  # still held, not settled: it counts all the same
    refused = await admit(store, new_job("U1", 50_001), 100_000)
    assert isinstance(refused, Refused)
    assert (refused.spent_micros, refused.estimate_micros) == (50_000, 50_001)


async def test_a_zero_budget_refuses_every_paid_request(store: Store) -> None:
    refused = await admit(store, new_job("U1", 1), 0)
    assert isinstance(refused, Refused) and refused.budget_micros == 0
    await store.set_budget("user", "U2", 0, by="UADMIN")
    assert isinstance(await admit(store, new_job("U2", 1), None), Refused)
    assert isinstance(await admit(store, new_job("U3", 1), None, 0), Refused)


def test_a_zero_budget_setting_is_zero_not_unlimited() -> None:
    settings = Settings.model_validate(
        {"IMAGEBOT_USER_MONTHLY_BUDGET": "0", "IMAGEBOT_TEAM_MONTHLY_BUDGET": "0.00"}
    )
    assert settings.user_monthly_budget == 0 and settings.team_monthly_budget == 0
    assert Settings.model_validate({"IMAGEBOT_USER_MONTHLY_BUDGET": ""}).user_monthly_budget is None


@pytest.mark.parametrize(
    ("size", "ok"),
    [
        ("1024x640", True),  # 655,360 pixels: the least fal takes
        ("1008x640", False),
        ("3840x2160", True),  # 8,294,400 pixels: the most
        ("3840x2176", False),
        ("2304x768", True),  # exactly 3:1
        ("2320x768", False),
        ("768x2304", True),
        ("3856x1024", False),  # the longest side past 3840
    ],
)
def test_fals_size_bounds_are_inclusive(size: str, ok: bool) -> None:
    if ok:
        request = parse_request(f"a cat --size {size}")
        assert str(request.size) == size
    else:
        with pytest.raises(OptionError):
            parse_request(f"a cat --size {size}")


@pytest.mark.parametrize(
    ("text", "ok"), [("--n 1", True), ("--n 4", True), ("--n 0", False), ("--n 5", False)]
)
def test_image_counts_from_one_to_four(text: str, ok: bool) -> None:
    if ok:
        assert parse_request(f"a cat {text}").n == int(text.split()[1])
    else:
        with pytest.raises(OptionError):
            parse_request(f"a cat {text}")


def test_prompt_lengths_at_both_ends() -> None:
    assert parse_request("ab").prompt == "ab"
    assert len(parse_request("x" * 32_000).prompt) == 32_000
    for text in ("a", "x" * 32_001):
        with pytest.raises(OptionError):
            parse_request(text)


def test_dollars_become_micro_dollars_rounding_up() -> None:
    assert to_micros(Decimal("0.0421")) == 42_100
    assert to_micros(Decimal("0.0000001")) == 1
    assert to_micros(Decimal("0")) == 0


def prices(tmp_path: Path, text: str) -> Settings:
    (tmp_path / "prices.toml").write_text(text)
    return Settings.model_validate({"IMAGEBOT_PRICE_FILE": str(tmp_path / "prices.toml")})


def test_a_price_file_may_leave_sections_out(tmp_path: Path) -> None:
    table = price_table(prices(tmp_path, '[unit_price]\n"openai/gpt-image-2" = 2.0\n'))
    assert table.unit_price("openai/gpt-image-2") == Decimal("2.0")
    assert table.per_image_usd("medium", 1024, 1024) == Decimal("0.06")  # fal's guide stays
    only_sizes = price_table(prices(tmp_path, '[per_image.low]\n"1024x1024" = 0.02\n'))
    assert only_sizes.per_image_usd("low", 1024, 1024) == Decimal("0.02")
    assert only_sizes.unit_price("openai/gpt-image-2") == Decimal("1")


@pytest.mark.parametrize(
    "text",
    [
        '[per_image.medium]\n"1024x1024" = -0.06\n',
        '[unit_price]\n"openai/gpt-image-2" = -1\n',
        "edit_input_image = -0.01\n",
        '[per_image.medium]\n"1024x1024" = "cheap"\n',
    ],
)
def test_a_price_file_with_a_negative_or_unreadable_price_is_refused(
    tmp_path: Path, text: str
) -> None:
    with pytest.raises(ConfigError, match=r"^IMAGEBOT_PRICE_FILE: "):
        price_table(prices(tmp_path, text))


async def test_budgets_set_by_admins_win_over_the_configured_ones(store: Store) -> None:
    await store.set_budget("team", "", 50_000, by="UADMIN")
    assert await store.budget_for("team", "", 1_000_000) == 50_000
    assert isinstance(await admit(store, new_job("U1", 50_001), None, 1_000_000), Refused)
    await store.set_budget("default", "", 20_000, by="UADMIN")
    await store.set_budget("user", "U2", 90_000, by="UADMIN")
    assert await store.budget_for("user", "U1", 5_000) == 20_000
    assert await store.budget_for("user", "U2", 5_000) == 90_000
    await store.clear_budget("team", "")
    assert await store.budget_for("team", "", None) is None
    assert await store.budget_for("team", "", 7_000) == 7_000


@pytest.mark.parametrize(
    ("ratio", "size"),
    [("25:13", "1440x752"), ("13:25", "752x1440"), ("22:15", "1248x848"), ("16:9", "1280x720")],
)
def test_an_aspect_ratio_gets_the_closest_size_near_one_megapixel(ratio: str, size: str) -> None:
    assert str(parse_request(f"a cat --ar {ratio}").size) == size


def test_options_taken_out_of_a_prompt_keep_its_paragraphs_and_single_spaces() -> None:
    assert parse_request("a cat   --n 2   on a mat").prompt == "a cat on a mat"
    assert parse_request("a cat\n\n--n 2 on a mat").prompt == "a cat\n\non a mat"
    assert parse_request("a cat\n\n--n 2\non a mat").prompt == "a cat\n\non a mat"


@pytest.mark.parametrize("text", ["", "help", "HELP", "-h", "--help", "—help", "–help"])
def test_every_way_of_asking_for_help(text: str) -> None:
    assert is_help(text)


def test_dollars_print_exactly_under_100_and_in_cents_from_100() -> None:
    assert format_usd(99_123_456) == "$99.123456"
    assert format_usd(100_123_456) == "$100.12"
    assert format_usd(1_234_567_890) == "$1,234.57"
    assert format_usd(42_100) == "$0.0421" and format_usd(20_000_000) == "$20.00"


def test_dollar_amounts_people_type() -> None:
    assert parse_usd("0") == 0 and parse_usd("$0.50") == Decimal("0.50")
    assert parse_usd("1,250") == Decimal("1250")
    for text in ("-1", "lots", "nan"):
        with pytest.raises(ValueError):
            parse_usd(text)


def test_a_size_between_rows_is_estimated_at_the_dearer_neighbour() -> None:
    table = gpt_image_2_prices()
    # Between 1024x1536 ($0.05) and 1920x1080 ($0.04); nothing further off counts.
    assert table.per_image_usd("medium", 1600, 1104) == Decimal("0.05")
    # As many pixels as a row: that row's price, whatever the shape.
    assert table.per_image_usd("medium", 2048, 768) == Decimal("0.05")
    assert table.per_image_usd("medium", 1536, 512) == Decimal("0.04")
    assert table.per_image_usd("auto", 1024, 1024) == table.per_image_usd("high", 1024, 1024)
    assert table.unit_price("some/other-model") == Decimal("1")


def test_rows_from_a_price_file_take_their_place_by_pixels(tmp_path: Path) -> None:
    table = price_table(
        prices(tmp_path, '[per_image.medium]\n"1280x720" = 0.05\n"1024x1024" = 0\n')
    )
    assert table.per_image_usd("medium", 1200, 720) == Decimal("0.05")  # 1024x768 < it < 1280x720
    assert table.per_image_usd("medium", 1024, 1024) == 0  # a free size is allowed
    assert table.unit_price("some/other-model") == Decimal("1")


async def test_a_person_without_a_budget_of_their_own_gets_the_configured_one(store: Store) -> None:
    assert await store.budget_for("user", "U9", 5_000) == 5_000
    assert await store.budget_for("user", "U9", None) is None

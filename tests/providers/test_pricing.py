"""Estimates from the price table, costs from billable units, and how money is shown."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.domain.usd import format_usd, parse_usd, to_micros
from bot.providers.pricing import PriceFileError, gpt_image_2_prices, load_price_file

TABLE = gpt_image_2_prices()


@pytest.mark.parametrize(
    ("quality", "size", "n", "usd"),
    [
        ("low", (1024, 768), 1, "0.01"),
        ("medium", (1024, 1024), 1, "0.06"),
        ("medium", (1024, 1024), 4, "0.24"),
        ("high", (1024, 1536), 2, "0.34"),
        ("high", (1536, 1024), 1, "0.17"),  # the same row turned
        ("auto", (1024, 768), 1, "0.15"),  # auto may run at high
        ("medium", (1280, 720), 1, "0.06"),  # between rows: the dearer neighbour
        ("high", (3840, 2160), 1, "0.41"),
    ],
)
def test_estimates(quality: str, size: tuple[int, int], n: int, usd: str) -> None:
    assert TABLE.estimate_micros(quality, *size, n) == to_micros(Decimal(usd))


def test_edit_inputs_add_to_the_estimate() -> None:
    plain = TABLE.estimate_micros("medium", 1024, 1024, 1)
    assert TABLE.estimate_micros("medium", 1024, 1024, 1, input_images=2) == plain + 20_000


def test_cost_is_units_times_unit_price_exactly() -> None:
    assert TABLE.cost_micros("openai/gpt-image-2", Decimal("0.0421")) == 42_100
    assert TABLE.cost_micros("openai/gpt-image-2/edit", Decimal("0.3612")) == 361_200
    assert to_micros(Decimal("0.0000001")) == 1  # never below what fal reports


@pytest.mark.parametrize(
    ("micros", "shown"),
    [
        (42_100, "$0.0421"),
        (0, "$0.00"),
        (1_000_000, "$1.00"),
        (500_000, "$0.50"),
        (123_456_789, "$123.46"),
    ],
)
def test_format_usd(micros: int, shown: str) -> None:
    assert format_usd(micros) == shown


@pytest.mark.parametrize(("text", "usd"), [("5", "5"), ("$12.50", "12.50"), ("1,000", "1000")])
def test_parse_usd(text: str, usd: str) -> None:
    assert parse_usd(text) == Decimal(usd)


@pytest.mark.parametrize("text", ["-1", "lots", "nan", "inf"])
def test_parse_usd_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_usd(text)


def test_price_file_overrides(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(
        'edit_input_image = 0.02\n[unit_price]\n"openai/gpt-image-2" = 1.1\n'
        '[per_image.medium]\n"1024x1024" = 0.07\n'
    )
    table = load_price_file(path, TABLE)
    assert table.estimate_micros("medium", 1024, 1024, 1) == 70_000
    assert table.estimate_micros("low", 1024, 1024, 1) == 10_000
    assert table.cost_micros("openai/gpt-image-2", Decimal("0.1")) == 110_000
    assert table.edit_input_image == Decimal("0.02")


def test_bad_price_file_says_so(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text('[per_image.medium]\n"big" = 0.07\n')
    with pytest.raises(PriceFileError):
        load_price_file(path, TABLE)

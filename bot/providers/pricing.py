"""Prices: estimates from the price table, cost from fal's billable units.

An estimate is what a job reserves against a budget before fal runs it; the cost is what fal
billed (`x-fal-billable-units` x the endpoint's unit price) once it has. Amounts are whole
micro-dollars (bot.domain.usd).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from bot.domain.request import Quality
from bot.domain.usd import to_micros

# fal's per-image guide for gpt-image-2 (USD), by output size and quality.
_GPT_IMAGE_2_GUIDE: dict[str, dict[tuple[int, int], str]] = {
    "low": {
        (1024, 768): "0.01",
        (1024, 1024): "0.01",
        (1024, 1536): "0.01",
        (1920, 1080): "0.01",
        (2560, 1440): "0.01",
        (3840, 2160): "0.02",
    },
    "medium": {
        (1024, 768): "0.04",
        (1024, 1024): "0.06",
        (1024, 1536): "0.05",
        (1920, 1080): "0.04",
        (2560, 1440): "0.06",
        (3840, 2160): "0.11",
    },
    "high": {
        (1024, 768): "0.15",
        (1024, 1024): "0.22",
        (1024, 1536): "0.17",
        (1920, 1080): "0.16",
        (2560, 1440): "0.23",
        (3840, 2160): "0.41",
    },
}


@dataclass(frozen=True)
class PriceTable:
    """Per-image estimates by quality and size, and the unit price of each endpoint.

    `auto` quality may run at `high`, so it is estimated as `high`. A size between two rows of
    the guide is estimated at the dearer neighbour: the hold should not fall short of the bill.
    """

    per_image: Mapping[str, Mapping[tuple[int, int], Decimal]]
    unit_prices: Mapping[str, Decimal] = field(default_factory=dict)
    default_unit_price: Decimal = Decimal("1")
    edit_input_image: Decimal = Decimal("0.01")

    def per_image_usd(self, quality: Quality, width: int, height: int) -> Decimal:
        rows = self.per_image.get("high" if quality == "auto" else quality)
        if not rows:
            raise KeyError(f"no prices for quality {quality!r}")
        exact = rows.get((width, height)) or rows.get((height, width))
        if exact is not None:
            return exact
        pixels = width * height
        ordered = sorted(rows.items(), key=lambda row: row[0][0] * row[0][1])
        below = [price for (w, h), price in ordered if w * h <= pixels]
        above = [price for (w, h), price in ordered if w * h >= pixels]
        neighbours = below[-1:] + above[:1]
        return max(neighbours)

    def estimate_micros(
        self, quality: Quality, width: int, height: int, n: int, input_images: int = 0
    ) -> int:
        usd = self.per_image_usd(quality, width, height) * n
        usd += self.edit_input_image * input_images
        return to_micros(usd)

    def unit_price(self, endpoint_id: str) -> Decimal:
        return self.unit_prices.get(endpoint_id, self.default_unit_price)

    def cost_micros(self, endpoint_id: str, billable_units: Decimal) -> int:
        return to_micros(billable_units * self.unit_price(endpoint_id))


def gpt_image_2_prices() -> PriceTable:
    return PriceTable(
        per_image={
            quality: {size: Decimal(price) for size, price in rows.items()}
            for quality, rows in _GPT_IMAGE_2_GUIDE.items()
        },
        unit_prices={"openai/gpt-image-2": Decimal("1"), "openai/gpt-image-2/edit": Decimal("1")},
    )


class PriceFileError(ValueError):
    pass


def load_price_file(path: Path, base: PriceTable) -> PriceTable:
    """Overlay an operator's TOML price file on a table.

    ```toml
    edit_input_image = 0.01
    [unit_price]
    "openai/gpt-image-2" = 1.0
    [per_image.medium]
    "1024x1024" = 0.06
    ```
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PriceFileError(f"cannot read price file {path}: {exc}") from None
    try:
        per_image = {q: dict(rows) for q, rows in base.per_image.items()}
        for quality, rows in data.get("per_image", {}).items():
            for size, price in rows.items():
                width, height = (int(side) for side in str(size).lower().split("x"))
                per_image.setdefault(quality, {})[(width, height)] = parse_price(price)
        unit_prices = dict(base.unit_prices)
        unit_prices.update({k: parse_price(v) for k, v in data.get("unit_price", {}).items()})
        edit_input = parse_price(data.get("edit_input_image", base.edit_input_image))
    except (TypeError, ValueError, AttributeError) as exc:
        raise PriceFileError(f"price file {path} is not in the expected shape: {exc}") from None
    return PriceTable(per_image, unit_prices, base.default_unit_price, edit_input)


def parse_price(value: object) -> Decimal:
    """A price in USD from a settings file: finite and not negative, or ValueError."""
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a price") from None
    if not price.is_finite() or price < 0:
        raise ValueError(f"{value!r} is not a price")
    return price

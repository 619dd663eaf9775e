"""Dollars: whole micro-dollars (int) in the store and in every sum, Decimal at the edges, never
float; printed the way fal bills (often under a cent) and read the way people type them."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal, InvalidOperation

_MICRO = Decimal("0.000001")


def to_micros(usd: Decimal) -> int:
    """Dollars to whole micro-dollars, rounding up: fal never bills less than it reports."""
    return int((usd / _MICRO).to_integral_value(rounding=ROUND_CEILING))


def to_usd(micros: int) -> Decimal:
    return (Decimal(micros) * _MICRO).quantize(_MICRO)


def format_usd(micros: int) -> str:
    """$0.0412 for small amounts (what fal bills is often under a cent), $12.34 for large."""
    usd = to_usd(micros)
    if abs(usd) >= 100:
        return f"${usd:,.2f}"
    text = f"{usd:.6f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def parse_usd(text: str) -> Decimal:
    """Dollars as a person types them ("$5", "12.50") to Decimal; ValueError if not an amount."""
    cleaned = text.strip().removeprefix("$").replace(",", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount of dollars") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{text!r} is not an amount of dollars")
    return value

"""Pretend money: the mock provider bills what the price table says a request costs, under
endpoints named `mock/...`, and every place that shows such an amount labels it "demo pricing"
(a charge from fal never is)."""

from __future__ import annotations

DEMO_ENDPOINT_PREFIX = "mock/"
DEMO_PRICING = "demo pricing"
DEMO_NOTE = (
    "Demo pricing: the mock provider billed what fal's price guide says these images would"
    " cost. No money was spent."
)


def is_demo_priced(endpoint_or_model: str) -> bool:
    """Whether a charge was billed by the mock provider."""
    return endpoint_or_model.startswith(DEMO_ENDPOINT_PREFIX)

"""The fal stand-in's schema of every endpoint the shipped catalog uses, and how each bills.

Written from fal's published sources, apart from the bot's catalog (bot/providers/catalog.toml),
so that the bot drifting from fal shows up in tests. Each endpoint cites its source: fal's
per-model `llms.txt` page, fal-js `libs/client/src/types/endpoints.ts` (field names, enums;
commit 381105e) and its zod branch 5324132 (`libs/client/src/types/image/zod.gen.ts`, numeric
bounds). fal's own validation ignores unknown fields (pydantic's default); the stand-in refuses
them on purpose, so a field the bot invents fails a test instead of silently doing nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

JSON = dict[str, Any]
Kind = Literal["text", "int", "number", "bool", "choice", "size", "url", "urls", "loras"]
# How fal counts a request's billable units: dollars of tokens (GPT Image 2: "unit_price 1"),
# output images, or output megapixels of 1024x1024 px rounded up.
Unit = Literal["usd", "image", "megapixel"]
MEGAPIXEL = 1024 * 1024


@dataclass(frozen=True)
class Rule:
    kind: Kind
    required: bool = False
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Endpoint:
    """One endpoint: its inputs, its output's shape, and what one billed unit is."""

    source: str
    fields: dict[str, Rule]
    unit: Unit
    unit_price: Decimal
    size_rules: Literal["gpt-image-2", "max-4mp", "any"] = "any"
    default_size: str = "landscape_4_3"
    # The first megapixel counts this many units (FLUX.2 [pro]: $0.03 first, $0.015 after).
    first_units: int = 1
    # A resolution tier's units per image (Nano Banana Pro: "4K outputs ... double").
    resolution_units: dict[str, int] = field(default_factory=dict)
    single_image: bool = False


def _text(low: int, high: int = 32_000) -> Rule:
    return Rule("text", required=True, low=low, high=high)


SEED = Rule("int", low=0, high=2**31 - 1)
SYNC = Rule("bool")
CHECKER = Rule("bool")

# GPT Image 2: GptImage2Input / GptImage2EditInput (fal-js); num_images 1-4 and the custom size
# rules from https://fal.ai/models/openai/gpt-image-2/llms.txt. The prompt's 2..32000 is the
# shared reference's (shared/reference/fal.md).
_GPT = {
    "prompt": _text(2),
    "image_size": Rule("size"),
    "quality": Rule("choice", choices=("low", "medium", "high", "auto")),
    "num_images": Rule("int", low=1, high=4),
    "output_format": Rule("choice", choices=("png", "jpeg", "webp")),
    "sync_mode": SYNC,
}
# FLUX.2 [pro]: Flux2MaxInput / Flux2MaxEditInput (fal-js); no num_images, jpeg/png only;
# https://fal.ai/models/fal-ai/flux-2-pro/llms.txt. BFL caps outputs at 4 MP (unconfirmed for
# custom sizes, so the stand-in holds the bot to it: the stricter reading).
_FLUX2 = {
    "prompt": _text(1),
    "image_size": Rule("size"),
    "seed": SEED,
    "safety_tolerance": Rule("choice", choices=("1", "2", "3", "4", "5")),
    "enable_safety_checker": CHECKER,
    "output_format": Rule("choice", choices=("jpeg", "png")),
    "sync_mode": SYNC,
}
# Seedream 4.5: SeedDream45T2IInput / SeedDream45EditInput (fal-js), num_images and max_images
# 1-6 (zod), "up to 10 image inputs" (https://fal.ai/models/fal-ai/bytedance/seedream/v4.5/edit/
# llms.txt). No output_format.
_SEEDREAM = {
    "prompt": _text(1),
    "image_size": Rule("size"),
    "num_images": Rule("int", low=1, high=6),
    "max_images": Rule("int", low=1, high=6),
    "seed": SEED,
    "sync_mode": SYNC,
    "enable_safety_checker": CHECKER,
}
# Nano Banana Pro: https://fal.ai/models/fal-ai/nano-banana-pro/llms.txt and fal-js; prompt
# 3..50000 (zod). A ratio and a resolution tier, never an image_size.
_NANO = {
    "prompt": _text(3, 50_000),
    "aspect_ratio": Rule("choice", choices=(
        "auto", "21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16")),
    "resolution": Rule("choice", choices=("1K", "2K", "4K")),
    "num_images": Rule("int", low=1, high=4),
    "seed": SEED,
    "safety_tolerance": Rule("choice", choices=("1", "2", "3", "4", "5", "6")),
    "output_format": Rule("choice", choices=("jpeg", "png", "webp")),
    "sync_mode": SYNC,
    "enable_web_search": Rule("bool"),
    "limit_generations": Rule("bool"),
    "system_prompt": Rule("text", low=0, high=50_000),
}  # fmt: skip
# FLUX.1 LoRA: FluxLoraInput (fal-js), steps 1-50, guidance 0-35, LoRA scale 0-4 (zod's shared
# LoraWeight); https://fal.ai/models/fal-ai/flux-lora/llms.txt. jpeg/png only.
_FLUX_LORA = {
    "prompt": _text(1),
    "loras": Rule("loras"),
    "image_size": Rule("size"),
    "num_inference_steps": Rule("int", low=1, high=50),
    "guidance_scale": Rule("number", low=0, high=35),
    "seed": SEED,
    "num_images": Rule("int", low=1, high=4),
    "output_format": Rule("choice", choices=("jpeg", "png")),
    "enable_safety_checker": CHECKER,
    "acceleration": Rule("choice", choices=("none", "regular")),
    "sync_mode": SYNC,
}
# Z-Image Turbo: ZImageTurboInput (fal-js), steps 1-8 (zod), up to 4 MP and "$0.005 per
# megapixel" (https://fal.ai/models/fal-ai/z-image/turbo).
_Z_IMAGE = {
    "prompt": _text(1),
    "image_size": Rule("size"),
    "num_inference_steps": Rule("int", low=1, high=8),
    "num_images": Rule("int", low=1, high=4),
    "seed": SEED,
    "acceleration": Rule("choice", choices=("none", "regular", "high")),
    "enable_prompt_expansion": Rule("bool"),
    "enable_safety_checker": CHECKER,
    "output_format": Rule("choice", choices=("jpeg", "png", "webp")),
    "sync_mode": SYNC,
}
# SeedVR2 upscale: SeedVRImageInput (fal-js), factor 1-10 and noise 0-1 (zod), `jpg` not
# `jpeg`; one `image` out (SeedVRImageOutput); https://fal.ai/models/fal-ai/seedvr/upscale/image/
# llms.txt: "$0.001 per megapixels" (of output, the stricter reading for a budget).
_SEEDVR = {
    "image_url": Rule("url", required=True),
    "upscale_mode": Rule("choice", choices=("factor", "target")),
    "upscale_factor": Rule("number", low=1, high=10),
    "target_resolution": Rule("choice", choices=("720p", "1080p", "1440p", "2160p")),
    "noise_scale": Rule("number", low=0, high=1),
    "output_format": Rule("choice", choices=("png", "jpg", "webp")),
    "seed": SEED,
    "sync_mode": SYNC,
}


def _edit(fields: dict[str, Rule], most: int, mask: bool = False) -> dict[str, Rule]:
    more = {"image_urls": Rule("urls", required=True, low=1, high=most)}
    return fields | more | ({"mask_url": Rule("url")} if mask else {})


_LLMS = "https://fal.ai/models/{}/llms.txt"
ENDPOINTS: dict[str, Endpoint] = {
    # fal's pricing API lists gpt-image-2 at 1 USD per unit (shared/reference/fal.md).
    "openai/gpt-image-2": Endpoint(
        _LLMS.format("openai/gpt-image-2"), _GPT, "usd", Decimal("1"), "gpt-image-2"
    ),
    # "A maximum of 16 images are allowed" (GptImage2EditInput.image_urls).
    "openai/gpt-image-2/edit": Endpoint(
        _LLMS.format("openai/gpt-image-2/edit"), _edit(_GPT, 16, mask=True), "usd", Decimal("1"),
        "gpt-image-2", "auto",
    ),
    # "$0.03 for the first megapixel of output, plus $0.015 per extra megapixel ... rounded up".
    "fal-ai/flux-2-pro": Endpoint(
        _LLMS.format("fal-ai/flux-2-pro"), _FLUX2, "megapixel", Decimal("0.015"), "max-4mp",
        first_units=2,
    ),
    # Reference maximum unconfirmed; BFL allows 8-10 per third parties: the stricter 9.
    "fal-ai/flux-2-pro/edit": Endpoint(
        _LLMS.format("fal-ai/flux-2-pro/edit"), _edit(_FLUX2, 9), "megapixel",
        Decimal("0.015"), "max-4mp", "auto", first_units=2,
    ),
    # "$0.04 per image" (fal's playground page); t2i default `auto_2K` renders 2048x2048.
    "fal-ai/bytedance/seedream/v4.5/text-to-image": Endpoint(
        _LLMS.format("fal-ai/bytedance/seedream/v4.5/text-to-image"), _SEEDREAM, "image",
        Decimal("0.04"), default_size="auto_2K",
    ),
    "fal-ai/bytedance/seedream/v4.5/edit": Endpoint(
        _LLMS.format("fal-ai/bytedance/seedream/v4.5/edit"), _edit(_SEEDREAM, 10), "image",
        Decimal("0.04"), default_size="auto_2K",
    ),
    # "$0.15 per image ... 4K outputs will be charged at double the standard rate."
    "fal-ai/nano-banana-pro": Endpoint(
        _LLMS.format("fal-ai/nano-banana-pro"), _NANO, "image", Decimal("0.15"),
        default_size="square_hd", resolution_units={"4K": 2},
    ),
    # The schema states no maximum of references; third parties say 14.
    "fal-ai/nano-banana-pro/edit": Endpoint(
        _LLMS.format("fal-ai/nano-banana-pro/edit"), _edit(_NANO, 14), "image", Decimal("0.15"),
        default_size="square_hd", resolution_units={"4K": 2},
    ),
    # "$0.035 per megapixel".
    "fal-ai/flux-lora": Endpoint(
        _LLMS.format("fal-ai/flux-lora"), _FLUX_LORA, "megapixel", Decimal("0.035")
    ),
    "fal-ai/z-image/turbo": Endpoint(
        _LLMS.format("fal-ai/z-image/turbo"), _Z_IMAGE, "megapixel", Decimal("0.005"), "max-4mp"
    ),
    "fal-ai/seedvr/upscale/image": Endpoint(
        _LLMS.format("fal-ai/seedvr/upscale/image"), _SEEDVR, "megapixel", Decimal("0.001"),
        single_image=True,
    ),
}  # fmt: skip


def field_problem(name: str, rule: Rule, value: object) -> str | None:
    """Why `value` does not fit the rule, in words like fal's (pydantic's) messages."""
    match rule.kind:
        case "text":
            ok = isinstance(value, str) and _within(rule, len(value))
            return None if ok else f"Input should be a string of {rule.low:g} to {rule.high:g}"
        case "int":
            ok = type(value) is int and _within(rule, value)
            return None if ok else f"Input should be an integer from {rule.low:g} to {rule.high:g}"
        case "number":
            ok = type(value) in (int, float) and _within(rule, value)  # type: ignore[arg-type]
            return None if ok else f"Input should be a number from {rule.low:g} to {rule.high:g}"
        case "bool":
            return None if isinstance(value, bool) else "Input should be a valid boolean"
        case "choice":
            return None if value in rule.choices else f"Input should be {', '.join(rule.choices)}"
        case "url":
            return None if _is_image_url(value) else "Input should be an http(s) or data: URL"
        case "urls":
            if not isinstance(value, list) or not value or not all(map(_is_image_url, value)):
                return "Field required: a non-empty list of http(s) or data: URLs"
            return None if len(value) <= (rule.high or 0) else f"A maximum of {rule.high:g} images"
        case "loras":
            return None if _loras_ok(value) else "Input should be a list of {path, scale}"
    return None


def _within(rule: Rule, number: float) -> bool:
    return (rule.low is None or number >= rule.low) and (rule.high is None or number <= rule.high)


def _loras_ok(value: object) -> bool:
    """LoraWeight: `path` (URL or HF repo of safetensors), optional `scale` 0-4 (zod)."""
    if not isinstance(value, list):
        return False
    for item in value:
        if not isinstance(item, dict) or set(item) - {"path", "scale"}:
            return False
        path, scale = item.get("path"), item.get("scale", 1)
        if not isinstance(path, str) or not path:
            return False
        if type(scale) not in (int, float) or not 0 <= scale <= 4:
            return False
    return True


def _is_image_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://", "data:"))


def megapixels(width: int, height: int) -> int:
    return max(1, math.ceil(width * height / MEGAPIXEL))

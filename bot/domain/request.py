"""The image request: what to ask the model for, and fal's size rules, in one place.

Pure logic, no I/O. Whatever a person can get wrong ends in an OptionError whose message is a
sentence they can act on; every Size fits fal's rules. The grammar that reads a request from
what people type is bot.requests.grammar; whether a model can do what was asked (a transparent
background, say) is for its profile to say (bot.providers.profiles).
"""

from __future__ import annotations

import math
from typing import Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

Quality = Literal["low", "medium", "high", "auto"]
OutputFormat = Literal["png", "jpeg", "webp"]
Background = Literal["auto", "transparent", "opaque"]

QUALITIES: tuple[Quality, ...] = get_args(Quality)
OUTPUT_FORMATS: tuple[OutputFormat, ...] = get_args(OutputFormat)
BACKGROUNDS: tuple[Background, ...] = get_args(Background)

MIN_PROMPT_CHARS = 2
MAX_PROMPT_CHARS = 32_000
MAX_IMAGES = 4

# fal's image_size rules for {"width": W, "height": H}.
SIZE_MULTIPLE = 16
MAX_EDGE = 3840
MAX_RATIO = 3
MIN_PIXELS = 655_360
MAX_PIXELS = 8_294_400

# --ar aims at about 1 MP: the price of a 1024x1024 image, the size people expect by default.
TARGET_PIXELS = 1_048_576
# Multiples of 16 near 1 MP can only approximate most ratios; differences this small are invisible.
RATIO_TOLERANCE = 0.005
# ...but an exact ratio (16:9 as 1280x720) beats a 0.4%-off one closer to 1 MP, as long as it stays
# within this share of the target: exactness must not buy a 6 MP image (2.39:1 is 3824x1600).
EXACT_RATIO_BAND = 0.25


class OptionError(ValueError):
    """A problem with what the user typed; `message` is meant to be shown to them as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _size_problems(width: int, height: int) -> list[str]:
    problems = []
    if width % SIZE_MULTIPLE or height % SIZE_MULTIPLE:
        problems.append(f"each side must be a multiple of {SIZE_MULTIPLE}")
    if max(width, height) > MAX_EDGE:
        problems.append(f"the longest side can be at most {MAX_EDGE} px")
    if max(width, height) > MAX_RATIO * min(width, height):
        problems.append(f"the ratio can be at most {MAX_RATIO}:1 either way")
    if width * height < MIN_PIXELS:
        problems.append(f"it needs at least {MIN_PIXELS:,} pixels (e.g. 816x816)")
    if width * height > MAX_PIXELS:
        problems.append(f"it can have at most {MAX_PIXELS:,} pixels (e.g. 3840x2160)")
    return problems


class Size(BaseModel):
    """An explicit image size that fal accepts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    width: int
    height: int

    @model_validator(mode="after")
    def _fits_fal(self) -> Self:
        problems = _size_problems(self.width, self.height)
        if problems:
            raise ValueError(f"{self} is not a valid fal image size: {'; '.join(problems)}")
        return self

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"

    def as_fal(self) -> dict[str, int]:
        return {"width": self.width, "height": self.height}


SIZE_PRESETS: dict[str, Size] = {
    "square": Size(width=1024, height=1024),
    "portrait": Size(width=1024, height=1536),
    "landscape": Size(width=1536, height=1024),
    "wide": Size(width=1536, height=864),
    "tall": Size(width=864, height=1536),
    "4k": Size(width=3840, height=2160),
}


class Lora(BaseModel):
    """One LoRA adapter as fal's FLUX LoRA endpoints take it: weights at `path`, at `scale`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(min_length=1, max_length=2000)
    scale: float = Field(default=1.0, ge=0, le=4)


class ImageRequest(BaseModel):
    """What to ask fal for, parsed from one message, for one model of the catalog.

    `model` is the catalog name; empty until intake settles it (the channel's or workspace's
    default), and requests stored before models were a choice read as GPT Image 2. Whether the
    model takes each option is its profile's to say (bot.providers.catalog): a value left None
    was not asked for, and the profile's own default applies. `aspect_ratio` keeps what `--ar`
    said, for models that take a ratio rather than a size.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str = Field(min_length=MIN_PROMPT_CHARS, max_length=MAX_PROMPT_CHARS)
    model: str = "gpt-image-2"
    style: str | None = None
    # Asked with `--draft`: made on the draft model, its card offers the final model.
    draft: bool = False
    quality: Quality | None = None
    size: Size | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    loras: tuple[Lora, ...] = ()
    n: int = Field(default=1, ge=1, le=MAX_IMAGES)
    output_format: OutputFormat | None = None
    background: Background = "auto"
    image_index: int | None = Field(default=None, ge=1, le=MAX_IMAGES)
    size_note: str | None = None

    @property
    def file_format(self) -> OutputFormat:
        """The file type the pictures come in (fal's models default to png)."""
        return self.output_format or "png"


def check_size(width: int, height: int, *, asked: str | None = None) -> Size:
    """Validate an explicit size; `asked` is how the user wrote it, for the error message."""
    problems = _size_problems(width, height)
    if problems:
        shown = asked or f"{width}x{height}"
        raise OptionError(f"`{shown}` won't work: {'; '.join(problems)}.")
    return Size(width=width, height=height)


def round16(value: float) -> int:
    # Half rounds up (1000 -> 1008), unlike round()'s banker's rounding; never down to 0.
    return max(SIZE_MULTIPLE, math.floor(value / SIZE_MULTIPLE + 0.5) * SIZE_MULTIPLE)


def fit_aspect_ratio(w: float, h: float) -> Size:
    """The valid size closest to the ratio w:h, at about TARGET_PIXELS."""
    if not (w > 0 and h > 0):
        raise OptionError(f"`--ar {w:g}:{h:g}` needs two positive numbers, like 16:9.")
    if max(w, h) > MAX_RATIO * min(w, h):
        raise OptionError(
            f"`--ar {w:g}:{h:g}` is too stretched: fal allows at most {MAX_RATIO}:1 either way."
        )
    if w < h:
        # Searching landscape only keeps portrait results exact mirrors (9:16 is 16:9 turned).
        turned = fit_aspect_ratio(h, w)
        return Size(width=turned.height, height=turned.width)
    ratio = w / h
    errors: dict[tuple[int, int], float] = {}
    for height in range(SIZE_MULTIPLE, MAX_EDGE + 1, SIZE_MULTIPLE):
        width = round16(ratio * height)
        if not _size_problems(width, height):
            errors[(width, height)] = abs(width / height - ratio) / ratio
    best = min(errors.values())

    def rank(candidate: tuple[int, int]) -> tuple[bool, int]:
        distance = abs(candidate[0] * candidate[1] - TARGET_PIXELS)
        exact = errors[candidate] < 1e-9 and distance <= EXACT_RATIO_BAND * TARGET_PIXELS
        return (not exact, distance)

    close = [c for c, error in errors.items() if error <= best + RATIO_TOLERANCE]
    width, height = min(close, key=rank)
    return Size(width=width, height=height)

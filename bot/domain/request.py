"""Prompt text -> ImageRequest: the option grammar and fal's size rules, in one place.

Parses the text after `/image`, thread replies and modals. Pure logic, no I/O. Whatever a user
can get wrong ends in an OptionError whose message is a sentence they can act on; whatever is
returned fits fal's size rules. Whether the model can do what was asked (a transparent
background, say) is for its profile to say (bot.providers.profiles).
"""

from __future__ import annotations

import math
import re
from typing import Literal, Self, TypeVar, get_args

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

OPTION_NAMES = ("quality", "size", "ar", "n", "format", "background")
# What help and error messages offer. `--background` is read so that asking for one gets the
# model's own answer (see bot.providers.profiles), but GPT Image 2 has no background setting to
# offer.
LISTED_OPTIONS = ("quality", "size", "ar", "n", "format")
_PICK_OPTION = "image"
_FORMAT_ALIASES = {"jpg": "jpeg"}

_T = TypeVar("_T", bound=str)


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


class ImageRequest(BaseModel):
    """What to ask fal for, parsed from one message."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str = Field(min_length=MIN_PROMPT_CHARS, max_length=MAX_PROMPT_CHARS)
    quality: Quality
    size: Size | None = None
    n: int = Field(1, ge=1, le=MAX_IMAGES)
    output_format: OutputFormat = "png"
    background: Background = "auto"
    image_index: int | None = Field(None, ge=1, le=MAX_IMAGES)
    size_note: str | None = None


def check_size(width: int, height: int, *, asked: str | None = None) -> Size:
    """Validate an explicit size; `asked` is how the user wrote it, for the error message."""
    problems = _size_problems(width, height)
    if problems:
        shown = asked or f"{width}x{height}"
        raise OptionError(f"`{shown}` won't work: {'; '.join(problems)}.")
    return Size(width=width, height=height)


def _round16(value: float) -> int:
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
        width = _round16(ratio * height)
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


_SIZE_RE = re.compile(r"([0-9]+)[x×*]([0-9]+)", re.IGNORECASE)
_RATIO_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)[:/]([0-9]+(?:\.[0-9]+)?)")
_OPTION_RE = re.compile(r"(--|[—–])([A-Za-z][\w-]*)(?:=(.*))?")
_PICK_RE = re.compile(r"#([0-9])[.,;:!?]?")


def _parse_size(value: str) -> tuple[Size, str | None]:
    preset = SIZE_PRESETS.get(value.lower())
    if preset is not None:
        return preset, None
    match = _SIZE_RE.fullmatch(value)
    if match is None:
        raise OptionError(
            f"`--size {value}` isn't a size: use WxH like 1536x1024, or one of "
            f"{', '.join(SIZE_PRESETS)}."
        )
    asked_w, asked_h = int(match[1]), int(match[2])
    size = check_size(_round16(asked_w), _round16(asked_h), asked=f"--size {value}")
    if (size.width, size.height) == (asked_w, asked_h):
        return size, None
    note = (
        f"{asked_w}x{asked_h} was rounded to {size} (sides must be multiples of {SIZE_MULTIPLE})."
    )
    return size, note


def _parse_ratio(value: str) -> Size:
    match = _RATIO_RE.fullmatch(value)
    if match is None:
        raise OptionError(f"`--ar {value}` isn't an aspect ratio: use W:H, like 16:9 or 2.35:1.")
    return fit_aspect_ratio(float(match[1]), float(match[2]))


def _parse_count(option: str, value: str) -> int:
    if not re.fullmatch(r"[0-9]+", value):
        raise OptionError(f"`--{option} {value}` isn't a number: use 1 to {MAX_IMAGES}.")
    if not 1 <= int(value) <= MAX_IMAGES:
        if option == _PICK_OPTION:
            raise OptionError(f"There's no image {value}: pick 1 to {MAX_IMAGES}.")
        raise OptionError(
            f"`--{option} {value}` is out of range: ask for 1 to {MAX_IMAGES} images."
        )
    return int(value)


def _pick(option: str, value: str, choices: tuple[_T, ...], aliases: dict[str, str]) -> _T:
    wanted = aliases.get(value.lower(), value.lower())
    for choice in choices:
        if choice == wanted:
            return choice
    raise OptionError(f"`--{option} {value}` isn't one of {', '.join(choices)}.")


def _unknown_option(token: str, name: str) -> OptionError:
    if name == _PICK_OPTION:
        return OptionError(f"`{token}` picks an image to edit: use it in a reply in a bot thread.")
    listed = ", ".join(f"`--{option}`" for option in LISTED_OPTIONS)
    return OptionError(f"`{token}` isn't an option. The options are {listed}; see `/image help`.")


def _scan(text: str, allow_image_pick: bool) -> tuple[dict[str, str], str]:
    """Split text into raw option values (by option name) and the prompt that remains."""
    names = (*OPTION_NAMES, _PICK_OPTION) if allow_image_pick else OPTION_NAMES
    tokens = list(re.finditer(r"\S+", text))
    raw: dict[str, str] = {}
    removed: list[tuple[int, int]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name, value, end = _read_option(tokens, i, names, allow_image_pick)
        if name is None:
            i += 1
            continue
        if name in raw:
            raise OptionError(f"`--{name}` is given twice; use it once.")
        raw[name] = value
        removed.append((token.start(), tokens[end].end()))
        i = end + 1
    return raw, _remove_spans(text, removed)


def _read_option(
    tokens: list[re.Match[str]], i: int, names: tuple[str, ...], allow_image_pick: bool
) -> tuple[str | None, str, int]:
    """(option name, raw value, index of its last token) for tokens[i], or (None, "", i)."""
    token = tokens[i][0]
    pick = _PICK_RE.fullmatch(token) if allow_image_pick else None
    if pick is not None:
        return _PICK_OPTION, pick[1], i
    match = _OPTION_RE.fullmatch(token)
    if match is None:
        return None, "", i
    name = match[2].lower()
    if name not in names:
        # An em dash before a word is ordinary prose ("a cat —sleeping"); only `--` is sure intent.
        if match[1] != "--":
            return None, "", i
        raise _unknown_option(token, name)
    if match[3] is not None:
        value, end = match[3], i
    elif i + 1 < len(tokens) and not _OPTION_RE.fullmatch(tokens[i + 1][0]):
        value, end = tokens[i + 1][0], i + 1
    else:
        value, end = "", i
    if not value:
        raise OptionError(f"`--{name}` needs a value: {_ACCEPTED[name]}.")
    return name, value, end


def _remove_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """Text without the spans; each cut keeps the most line breaks found on either side."""
    result, position = "", 0
    for start, end in spans:
        left = text[position:start]
        kept = left.rstrip()
        before, after = left[len(kept) :], _leading_space(text[end:])
        gap = before if before.count("\n") >= after.count("\n") else after
        result += kept + (gap if "\n" in gap else " ")
        position = end + len(after)
    return (result + text[position:]).strip()


def _leading_space(text: str) -> str:
    return text[: len(text) - len(text.lstrip())]


def _check_prompt(prompt: str) -> None:
    if not prompt:
        raise OptionError(
            "Add a description of the image, e.g. `/image a lighthouse at dawn --ar 16:9`."
        )
    if len(prompt) < MIN_PROMPT_CHARS:
        raise OptionError(
            f"The description `{prompt}` is too short: "
            f"write at least {MIN_PROMPT_CHARS} characters."
        )
    if len(prompt) > MAX_PROMPT_CHARS:
        raise OptionError(
            f"The description is {len(prompt):,} characters long; "
            f"the limit is {MAX_PROMPT_CHARS:,}. Please shorten it."
        )


_ACCEPTED = {
    "quality": "low, medium, high or auto",
    "size": f"WxH like 1536x1024, or one of {', '.join(SIZE_PRESETS)}",
    "ar": "W:H like 16:9",
    "n": f"1 to {MAX_IMAGES}",
    "format": "png, jpeg or webp",
    "background": "auto, transparent or opaque",
    _PICK_OPTION: f"1 to {MAX_IMAGES}",
}


def parse_request(
    text: str, *, default_quality: Quality = "medium", allow_image_pick: bool = False
) -> ImageRequest:
    """Parse `<prompt> [options]`; `allow_image_pick` enables `#N` / `--image N` (thread edits)."""
    raw, prompt = _scan(text, allow_image_pick)
    if "size" in raw and "ar" in raw:
        raise OptionError("Use either `--size` or `--ar`, not both.")
    size, size_note = _parse_size(raw["size"]) if "size" in raw else (None, None)
    if "ar" in raw:
        size = _parse_ratio(raw["ar"])
    quality = _pick("quality", raw["quality"], QUALITIES, {}) if "quality" in raw else None
    output_format = _pick("format", raw.get("format", "png"), OUTPUT_FORMATS, _FORMAT_ALIASES)
    background = _pick("background", raw.get("background", "auto"), BACKGROUNDS, {})
    if background == "transparent" and output_format == "jpeg":
        raise OptionError(
            "`--background transparent` needs `--format png` or `--format webp`: "
            "JPEG has no transparency."
        )
    n = _parse_count("n", raw["n"]) if "n" in raw else 1
    image_index = _parse_count(_PICK_OPTION, raw[_PICK_OPTION]) if _PICK_OPTION in raw else None
    _check_prompt(prompt)
    return ImageRequest(
        prompt=prompt,
        quality=quality or default_quality,
        size=size,
        n=n,
        output_format=output_format,
        background=background,
        image_index=image_index,
        size_note=size_note,
    )


def is_help(text: str) -> bool:
    return text.strip().lower() in {"", "help", "-h", "--help", "—help", "–help"}


def help_text(default_quality: Quality = "medium") -> str:
    """The `/image help` message (Slack mrkdwn), naming the workspace's default quality."""
    presets = ", ".join(f"`{name}` {size}" for name, size in SIZE_PRESETS.items())
    return "\n".join(
        [
            "*Make an image:* `/image <prompt> [options]`",
            "",
            "*Options* (anywhere in the text):",
            f"• `--quality low|medium|high|auto`: detail and cost (default `{default_quality}`)",
            f"• `--size WxH` or a preset: {presets} "
            "(default: 4:3 landscape for new images, the shape of the input for edits). "
            f"Sides are rounded to multiples of {SIZE_MULTIPLE}; the longest side can be at most "
            f"{MAX_EDGE} px, the ratio at most {MAX_RATIO}:1, "
            f"and {MIN_PIXELS:,} to {MAX_PIXELS:,} pixels in all",
            "• `--ar W:H`: an aspect ratio like `16:9` or `2.35:1`, at about 1 megapixel "
            "(use either `--size` or `--ar`)",
            f"• `--n 1..{MAX_IMAGES}`: how many images (default `1`)",
            "• `--format png|jpeg|webp`: file type (default `png`)",
            "",
            "*Edit:* reply in the image's thread with what to change; it edits the latest image. "
            "Start with `#2` (or `--image 2`) to edit another one of its images.",
            "",
            "*Examples:*",
            "`/image a lighthouse at dawn, oil painting --quality low --ar 16:9`",
            "`/image a logo for a coffee shop on a white background --size square --n 4`",
        ]
    )

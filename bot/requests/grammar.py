"""Prompt text -> ImageRequest: the option grammar of `/image`, thread replies and the Edit dialog.

Pure logic, no I/O. Whatever a person can get wrong ends in an OptionError whose message is a
sentence they can act on; whatever is returned fits fal's size rules (bot.domain.request).
"""

from __future__ import annotations

import re
from typing import TypeVar

from bot.domain.request import (
    BACKGROUNDS,
    MAX_EDGE,
    MAX_IMAGES,
    MAX_PIXELS,
    MAX_PROMPT_CHARS,
    MAX_RATIO,
    MIN_PIXELS,
    MIN_PROMPT_CHARS,
    OUTPUT_FORMATS,
    QUALITIES,
    SIZE_MULTIPLE,
    SIZE_PRESETS,
    ImageRequest,
    OptionError,
    Quality,
    Size,
    check_size,
    fit_aspect_ratio,
    round16,
)

OPTION_NAMES = (
    "model", "style", "draft", "quality", "size", "ar", "res", "n", "format", "seed", "background",
)  # fmt: skip
# Options that take no value.
FLAGS = ("draft",)
# What help and error messages offer. `--background` is read so that asking for one gets the
# model's own answer (see bot.providers.profiles), but GPT Image 2 has no background setting to
# offer.
LISTED_OPTIONS = ("model", "style", "draft", "quality", "size", "ar", "res", "n", "format", "seed")
_PICK_OPTION = "image"
_FORMAT_ALIASES = {"jpg": "jpeg"}

_T = TypeVar("_T", bound=str)


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
    size = check_size(round16(asked_w), round16(asked_h), asked=f"--size {value}")
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
    if name in FLAGS:
        return name, "yes", i
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
    "model": "a model's name (see `/image models`)",
    "style": "a style's name (see `/image styles`)",
    "res": "a resolution the model lists, like 2K",
    "seed": "a whole number",
    _PICK_OPTION: f"1 to {MAX_IMAGES}",
}


def _parse_seed(value: str) -> int:
    if not re.fullmatch(r"[0-9]{1,10}", value) or int(value) > 2**31 - 1:
        raise OptionError(f"`--seed {value}` isn't a seed: use a whole number up to {2**31 - 1}.")
    return int(value)


def _parse_resolution(value: str) -> str:
    if not re.fullmatch(r"[0-9]+[kK]", value):
        raise OptionError(f"`--res {value}` isn't a resolution: use one like 1K, 2K or 4K.")
    return value.upper()


def parse_request(
    text: str, *, default_quality: Quality | None = "medium", allow_image_pick: bool = False
) -> ImageRequest:
    """Parse `<prompt> [options]`; `allow_image_pick` enables `#N` / `--image N` (thread edits).

    The model is left empty unless `--model` names one, and with `default_quality=None` so is
    an unasked quality or format: intake settles them from the model's profile.
    """
    raw, prompt = _scan(text, allow_image_pick)
    if "size" in raw and "ar" in raw:
        raise OptionError("Use either `--size` or `--ar`, not both.")
    size, size_note = _parse_size(raw["size"]) if "size" in raw else (None, None)
    if "ar" in raw:
        size = _parse_ratio(raw["ar"])
    quality = _pick("quality", raw["quality"], QUALITIES, {}) if "quality" in raw else None
    fmt = raw.get("format", "png" if default_quality else None)
    output_format = _pick("format", fmt, OUTPUT_FORMATS, _FORMAT_ALIASES) if fmt else None
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
        model=raw.get("model", "").lower(),
        style=raw["style"].lower() if "style" in raw else None,
        draft="draft" in raw,
        quality=quality or default_quality,
        size=size,
        aspect_ratio=raw["ar"].replace("/", ":") if "ar" in raw else None,
        resolution=_parse_resolution(raw["res"]) if "res" in raw else None,
        seed=_parse_seed(raw["seed"]) if "seed" in raw else None,
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
            "*Options* (anywhere in the text; each model takes some of them, see `/image models`):",
            "• `--model NAME`, `--style NAME`: another model, or an admin's style"
            " (`/image styles`); `--draft`: a cheap draft first, with a *Final* button",
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
            "• `--res 1K|2K|4K`, `--seed N`: for models that take them",
            "",
            "*Edit:* reply in the image's thread with what to change; it edits the latest image. "
            "Start with `#2` (or `--image 2`) to edit another one of its images.",
            "",
            "*Examples:*",
            "`/image a lighthouse at dawn, oil painting --quality low --ar 16:9`",
            "`/image a logo for a coffee shop on a white background --size square --n 4`",
        ]
    )

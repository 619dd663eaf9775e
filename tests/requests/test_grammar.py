"""Tests for the `/image` option grammar (bot.requests.grammar), the size presets and fal's size
rules (bot.domain.request)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.request import (
    MAX_EDGE,
    MAX_PIXELS,
    MAX_PROMPT_CHARS,
    MAX_RATIO,
    MIN_PIXELS,
    SIZE_MULTIPLE,
    ImageRequest,
    OptionError,
    Size,
    check_size,
    fit_aspect_ratio,
)
from bot.requests.grammar import help_text, is_help, parse_request
from bot.testing.fal.models import validate
from tests.factories import CATALOG

PROFILE = CATALOG.get("gpt-image-2")


def assert_fal_rules(size: Size) -> None:
    w, h = size.width, size.height
    assert w % SIZE_MULTIPLE == 0 and h % SIZE_MULTIPLE == 0, size
    assert max(w, h) <= MAX_EDGE, size
    assert max(w, h) <= MAX_RATIO * min(w, h), size
    assert MIN_PIXELS <= w * h <= MAX_PIXELS, size


def size(w: int, h: int) -> Size:
    return Size(width=w, height=h)


# --- parsing: every option and alias ---------------------------------------------------------

PARSED: list[tuple[str, str, dict[str, Any]]] = [
    ("a cat", "a cat", {}),
    ("a cat --quality low", "a cat", {"quality": "low"}),
    ("a cat --quality HIGH", "a cat", {"quality": "high"}),
    ("a cat --quality auto", "a cat", {"quality": "auto"}),
    ("a cat --quality=medium", "a cat", {"quality": "medium"}),
    ("a cat —quality high", "a cat", {"quality": "high"}),
    ("a cat –quality high", "a cat", {"quality": "high"}),
    ("a cat —Quality High", "a cat", {"quality": "high"}),
    ("a cat --size 1536x1024", "a cat", {"size": size(1536, 1024)}),
    ("a cat --size 1536X1024", "a cat", {"size": size(1536, 1024)}),
    ("a cat --size 1536×1024", "a cat", {"size": size(1536, 1024)}),
    ("a cat --size 1536*1024", "a cat", {"size": size(1536, 1024)}),
    ("a cat --size=1024x1536", "a cat", {"size": size(1024, 1536)}),
    ("a cat --size Square", "a cat", {"size": size(1024, 1024)}),
    ("a cat --ar 16:9", "a cat", {"size": size(1280, 720), "aspect_ratio": "16:9"}),
    ("a cat --ar 16/9", "a cat", {"size": size(1280, 720), "aspect_ratio": "16:9"}),
    ("a cat --ar=1:1", "a cat", {"size": size(1024, 1024), "aspect_ratio": "1:1"}),
    ("a cat --n 4", "a cat", {"n": 4}),
    ("a cat --n=1", "a cat", {"n": 1}),
    ("a cat --format jpeg", "a cat", {"output_format": "jpeg"}),
    ("a cat --format JPG", "a cat", {"output_format": "jpeg"}),
    ("a cat --format webp", "a cat", {"output_format": "webp"}),
    ("a cat --format png", "a cat", {"output_format": "png"}),
    ("a cat --background transparent", "a cat", {"background": "transparent"}),
    (
        "a cat --background opaque --format jpeg",
        "a cat",
        {"background": "opaque", "output_format": "jpeg"},
    ),
    (
        "a cat --background transparent --format webp",
        "a cat",
        {"background": "transparent", "output_format": "webp"},
    ),
    ("--n 2 a cat", "a cat", {"n": 2}),
    ("a --n 2 cat", "a cat", {"n": 2}),
    ("  a   cat  --n 2  ", "a   cat", {"n": 2}),
    ("a cat\n--n 2\non a mat", "a cat\non a mat", {"n": 2}),
    ("a cat --n 2\n\non a mat", "a cat\n\non a mat", {"n": 2}),
    ("line one\nline two --quality low", "line one\nline two", {"quality": "low"}),
    # An em dash before a word that is no option is prose; `#2` is prose unless picking.
    ("a cat —sleeping", "a cat —sleeping", {}),
    ("poster #2 of 3", "poster #2 of 3", {}),
    ("a cat — sleeping", "a cat — sleeping", {}),
    (
        "a logo --size square --n 4 --background transparent --quality high --format webp",
        "a logo",
        {
            "size": size(1024, 1024),
            "n": 4,
            "background": "transparent",
            "quality": "high",
            "output_format": "webp",
        },
    ),
]


@pytest.mark.parametrize(("text", "prompt", "fields"), PARSED)
def test_parse_options(text: str, prompt: str, fields: dict[str, Any]) -> None:
    request = parse_request(text)
    expected = {
        "prompt": prompt,
        "model": "",
        "quality": "medium",
        "size": None,
        "n": 1,
        "output_format": "png",
        "background": "auto",
        "image_index": None,
        "size_note": None,
        **fields,
    }
    assert request.model_dump() == ImageRequest(**expected).model_dump()


@pytest.mark.parametrize(
    ("text", "prompt", "index"),
    [
        ("#2 make it navy", "make it navy", 2),
        ("make #3 navy", "make navy", 3),
        ("use #1, make it navy", "use make it navy", 1),
        ("make it navy --image 4", "make it navy", 4),
        ("make it navy —image=2", "make it navy", 2),
        ("make it navy", "make it navy", None),
        ("make #12 navy", "make #12 navy", None),
    ],
)
def test_image_pick(text: str, prompt: str, index: int | None) -> None:
    request = parse_request(text, allow_image_pick=True)
    assert (request.prompt, request.image_index) == (prompt, index)


def test_default_quality_is_used_only_when_none_is_asked() -> None:
    assert parse_request("a cat", default_quality="low").quality == "low"
    assert parse_request("a cat --quality high", default_quality="low").quality == "high"


def test_requests_are_frozen() -> None:
    request = parse_request("a cat")
    with pytest.raises(ValueError):
        request.n = 3


# --- sizes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "width", "height"),
    [
        ("square", 1024, 1024),
        ("portrait", 1024, 1536),
        ("landscape", 1536, 1024),
        ("wide", 1536, 864),
        ("tall", 864, 1536),
        ("4k", 3840, 2160),
        ("4K", 3840, 2160),
    ],
)
def test_size_presets(preset: str, width: int, height: int) -> None:
    request = parse_request(f"a cat --size {preset}")
    assert request.size == size(width, height)
    assert request.size_note is None
    assert_fal_rules(request.size)


@pytest.mark.parametrize(
    ("asked", "width", "height", "note"),
    [
        ("1024x1024", 1024, 1024, None),
        ("3840x2160", 3840, 2160, None),
        ("2400x800", 2400, 800, None),
        (
            "1000x1000",
            1008,
            1008,
            "1000x1000 was rounded to 1008x1008 (sides must be multiples of 16).",
        ),
        (
            "1920x1080",
            1920,
            1088,
            "1920x1080 was rounded to 1920x1088 (sides must be multiples of 16).",
        ),
        (
            "1030x1030",
            1024,
            1024,
            "1030x1030 was rounded to 1024x1024 (sides must be multiples of 16).",
        ),
    ],
)
def test_explicit_size(asked: str, width: int, height: int, note: str | None) -> None:
    request = parse_request(f"a cat --size {asked}")
    assert request.size == size(width, height)
    assert request.size_note == note


def test_size_helpers() -> None:
    s = size(1536, 1024)
    assert (str(s), s.pixels, s.as_fal()) == (
        "1536x1024",
        1_572_864,
        {"width": 1536, "height": 1024},
    )
    assert check_size(1536, 1024) == s


@pytest.mark.parametrize(
    ("width", "height", "problem"),
    [
        (1000, 1024, "multiple of 16"),
        (4096, 2048, "at most 3840 px"),
        (3200, 1024, "at most 3:1"),
        (512, 512, "at least 655,360 pixels"),
        (3840, 2176, "at most 8,294,400 pixels"),
    ],
)
def test_invalid_sizes_are_refused(width: int, height: int, problem: str) -> None:
    with pytest.raises(OptionError, match=problem):
        check_size(width, height)
    with pytest.raises(ValueError, match=problem):
        Size(width=width, height=height)


AR_TABLE = [
    ("16:9", 1280, 720),
    ("9:16", 720, 1280),
    ("4:3", 1152, 864),
    ("3:2", 1248, 832),
    ("1:1", 1024, 1024),
    ("21:9", 1568, 672),
    ("3:1", 1776, 592),
    ("1:3", 592, 1776),
    ("2.35:1", 1504, 640),
    ("16:10", 1280, 800),
    ("2.39:1", 1568, 656),
]


@pytest.mark.parametrize(("ratio", "width", "height"), AR_TABLE)
def test_aspect_ratio_table(ratio: str, width: int, height: int) -> None:
    result = parse_request(f"a cat --ar {ratio}").size
    assert result == size(width, height)
    assert_fal_rules(result)
    w, h = (float(part) for part in ratio.split(":"))
    assert abs(result.width / result.height - w / h) / (w / h) < 0.001
    assert abs(result.pixels - 1_048_576) < 0.25 * 1_048_576


# --- rejections ------------------------------------------------------------------------------

REJECTED: list[tuple[str, list[str]]] = [
    ("a cat --quality ultra", ["`--quality ultra`", "low, medium, high, auto"]),
    ("a cat --quality", ["`--quality`", "needs a value", "low, medium, high or auto"]),
    ("a cat --quality --n 2", ["`--quality`", "needs a value"]),
    ("a cat --quality=", ["`--quality`", "needs a value"]),
    ("a cat --n 9", ["`--n 9`", "1 to 4"]),
    ("a cat --n 0", ["`--n 0`", "1 to 4"]),
    ("a cat --n two", ["`--n two`", "1 to 4"]),
    ("a cat --format bmp", ["`--format bmp`", "png, jpeg, webp"]),
    ("a cat --background pink", ["`--background pink`", "auto, transparent, opaque"]),
    ("a cat --foo 1", ["`--foo`", "--quality", "--size", "--ar", "--n", "--format"]),
    ("a cat --image 2", ["`--image`", "reply"]),
    ("a cat --n 1 --n 2", ["`--n`", "twice"]),
    ("a cat --quality low —quality high", ["`--quality`", "twice"]),
    ("a cat --size square --ar 16:9", ["`--size`", "`--ar`", "not both"]),
    ("a cat --background transparent --format jpeg", ["transparent", "png", "webp"]),
    ("a cat --background transparent --format jpg", ["transparent", "png", "webp"]),
    ("a cat --size 5000x100", ["`--size 5000x100`", "at most 3840 px", "at most 3:1"]),
    ("a cat --size 512x512", ["`--size 512x512`", "at least 655,360", "816x816"]),
    ("a cat --size 4000x4000", ["at most 3840 px", "at most 8,294,400"]),
    ("a cat --size 3x", ["`--size 3x`", "1536x1024", "square", "4k"]),
    ("a cat --size huge", ["`--size huge`", "square, portrait, landscape, wide, tall, 4k"]),
    ("a cat --ar 10:1", ["`--ar 10:1` is too stretched", "3:1"]),
    ("a cat --ar 1:10", ["`--ar 1:10` is too stretched", "3:1"]),
    ("a cat --ar 0:1", ["`--ar 0:1`", "positive"]),
    ("a cat --ar wide", ["`--ar wide`", "16:9"]),
    ("--n 2", ["Add a description of the image"]),
    ("", ["Add a description of the image"]),
    ("a --n 2", ["too short", "2 characters"]),
    ("x" * 32_001, ["32,001 characters", "32,000"]),
]


@pytest.mark.parametrize(("text", "phrases"), REJECTED, ids=[t[:40] for t, _ in REJECTED])
def test_rejections_name_the_problem(text: str, phrases: list[str]) -> None:
    with pytest.raises(OptionError) as caught:
        parse_request(text)
    for phrase in phrases:
        assert phrase in caught.value.message
    assert str(caught.value) == caught.value.message


@pytest.mark.parametrize(
    ("text", "phrase"),
    [("#5 make it navy", "no image 5"), ("make it navy --image 0", "no image 0")],
)
def test_image_pick_out_of_range(text: str, phrase: str) -> None:
    with pytest.raises(OptionError, match=phrase):
        parse_request(text, allow_image_pick=True)


def test_prompt_length_bounds() -> None:
    assert parse_request("ab").prompt == "ab"
    assert len(parse_request("x" * MAX_PROMPT_CHARS + " --n 2").prompt) == MAX_PROMPT_CHARS


# --- help ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("   \n", True),
        ("help", True),
        ("HELP ", True),
        ("-h", True),
        ("--help", True),
        ("—help", True),
        ("help me draw a cat", False),
        ("a cat", False),
    ],
)
def test_is_help(text: str, expected: bool) -> None:
    assert is_help(text) is expected


def test_help_text_lists_usage_options_presets_and_examples() -> None:
    for phrase in [
        "/image <prompt> [options]",
        "--quality low|medium|high|auto",
        "--size",
        "--ar",
        "--n 1..4",
        "--format png|jpeg|webp",
        "`square` 1024x1024",
        "`4k` 3840x2160",
        "reply in the image's thread",
        "#2",
        "--quality low --ar 16:9",
        "--size square --n 4",
    ]:
        assert phrase in help_text()
    assert "default `high`" in help_text("high")


def test_help_and_errors_offer_only_what_the_model_does() -> None:
    """GPT Image 2 on fal has no background setting: nothing offers one."""
    assert "background" not in help_text().replace("white background", "")
    with pytest.raises(OptionError) as caught:
        parse_request("a cat --foo 1")
    assert "--background" not in caught.value.message


# --- properties ------------------------------------------------------------------------------

sides = st.integers(min_value=1, max_value=5000)


@given(sides, sides)
def test_fit_aspect_ratio_always_obeys_fal(w: int, h: int) -> None:
    if max(w, h) > MAX_RATIO * min(w, h):
        with pytest.raises(OptionError, match="too stretched"):
            fit_aspect_ratio(w, h)
        return
    result = fit_aspect_ratio(w, h)
    assert_fal_rules(result)
    # Near 1 MP, multiples of 16 get within about half a percent of any ratio (0.56% at worst).
    assert abs(result.width / result.height - w / h) / (w / h) < 0.01
    assert fit_aspect_ratio(h, w) == size(result.height, result.width)


@given(st.floats(min_value=1.0, max_value=3.0))
def test_fit_aspect_ratio_decimal_ratios(ratio: float) -> None:
    assert_fal_rules(fit_aspect_ratio(ratio, 1))


@given(sides, sides)
def test_explicit_sizes_are_valid_or_refused(w: int, h: int) -> None:
    try:
        request = parse_request(f"a cat --size {w}x{h}")
    except OptionError:
        return
    assert request.size is not None
    assert_fal_rules(request.size)
    assert abs(request.size.width - w) <= 8 and abs(request.size.height - h) <= 8
    assert (request.size_note is None) == ((request.size.width, request.size.height) == (w, h))


tokens = st.sampled_from(
    [
        "a",
        "cat",
        "on",
        "#2",
        "—",
        "\n",
        "--n",
        "2",
        "9",
        "--size",
        "1000x1000",
        "5000x100",
        "wide",
        "--ar",
        "16:9",
        "2.35:1",
        "10:1",
        "--quality",
        "low",
        "ultra",
        "--format",
        "jpg",
        "--image",
        "--background",
        "transparent",
        "—n",
        "–ar",
        "--foo",
        "=",
        "x",
    ]
)


@given(st.lists(tokens, max_size=12), st.booleans())
def test_any_successful_parse_is_valid_for_fal(words: list[str], allow_image_pick: bool) -> None:
    try:
        request = parse_request(" ".join(words), allow_image_pick=allow_image_pick)
    except OptionError as error:
        assert error.message
        return
    assert 2 <= len(request.prompt) <= MAX_PROMPT_CHARS
    assert request.prompt == request.prompt.strip()
    if request.size is not None:
        assert_fal_rules(request.size)
    # What a model can do fits fal's published schema; what it cannot, it refuses.
    for profile in CATALOG:
        try:
            settled = profile.complete(request, "medium")
        except OptionError as error:
            assert error.message
            continue
        for kind in ("generate", "edit"):
            if profile.has(kind):
                args = profile.arguments(kind, settled, ["https://x/1.png"], None)
                assert validate(profile.endpoint_for(kind), args) == []


# Bad options as people type them after `/image`: each was once a case of the HTTP table in
# tests/e2e/test_bad_input.py (which keeps a few on the wire); the answer names the problem.
BAD_IMAGE_OPTIONS: list[tuple[str, str, str]] = [
    ("n 9", "a cat --n 9", "9"),
    ("n 0", "a cat --n 0", "--n"),
    ("n two", "a cat --n two", "two"),
    ("size too long", "a cat --size 5000x100", "3840"),
    ("size too small", "a cat --size 100x100", "pixels"),
    ("size words", "a cat --size big", "big"),
    ("ar 10:1", "a cat --ar 10:1", "3:1"),
    ("ar 0:1", "a cat --ar 0:1", "--ar"),
    ("ar words", "a cat --ar wide", "wide"),
    ("format bmp", "a cat --format bmp", "bmp"),
    ("background purple", "a cat --background purple", "purple"),
    ("transparent jpeg", "a cat --background transparent --format jpeg", "transparent"),
    ("options only", "--quality low", "description"),
    ("one character", "x", "2"),
    ("unknown option", "a cat --foo bar", "--foo"),
    ("missing value", "a cat --quality", "--quality"),
    ("option twice", "a cat --n 2 --n 3", "--n"),
    ("size and ar", "a cat --size square --ar 16:9", "--ar"),
    ("image pick outside a thread", "a cat --image 2", "--image"),
]


@pytest.mark.parametrize(
    ("text", "says"), [c[1:] for c in BAD_IMAGE_OPTIONS], ids=[c[0] for c in BAD_IMAGE_OPTIONS]
)
def test_bad_image_options_are_refused_in_words_that_name_them(text: str, says: str) -> None:
    with pytest.raises(OptionError) as refused:
        parse_request(text)
    assert says in refused.value.message

"""How a request becomes GPT Image 2's inputs on fal, and what the profile refuses (pure logic)."""

from __future__ import annotations

import pytest

from bot.providers.pricing import gpt_image_2_prices
from bot.providers.profiles import EndpointSchema, InputField, InputsOutsideSchema, gpt_image_2
from bot.requests.grammar import parse_request
from bot.testing.fal.models import FIELDS, validate

PROFILE = gpt_image_2()


def test_text_to_image_inputs() -> None:
    request = parse_request("a fox --quality low --size portrait --n 2 --format webp")
    args = PROFILE.arguments("generate", request, [], None)
    assert args == {
        "prompt": "a fox",
        "quality": "low",
        "num_images": 2,
        "output_format": "webp",
        "image_size": {"width": 1024, "height": 1536},
    }


def test_no_size_leaves_fal_its_default() -> None:
    args = PROFILE.arguments("generate", parse_request("a fox"), [], None)
    assert "image_size" not in args


def test_edit_inputs_carry_the_images_and_the_mask() -> None:
    urls = ["https://x/1.png", "data:image/png;base64,AA"]
    args = PROFILE.arguments("edit", parse_request("make it blue"), urls, "https://x/mask.png")
    assert args["image_urls"] == urls and args["mask_url"] == "https://x/mask.png"
    assert "image_size" not in args
    with pytest.raises(InputsOutsideSchema, match="mask_url"):
        PROFILE.arguments("edit", parse_request("make it blue"), ["https://x/1.png"], "m")


@pytest.mark.parametrize("background", ["opaque", "transparent"])
@pytest.mark.parametrize("kind", ["generate", "edit"])
def test_background_is_never_sent(kind: str, background: str) -> None:
    """GPT Image 2 on fal has no `background` input (fal-js GptImage2Input/EditInput)."""
    request = parse_request(f"a sticker --background {background}")
    args = PROFILE.arguments(kind, request, ["https://x/1.png"], None)
    assert "background" not in args


def test_the_profile_refuses_what_the_model_cannot_do_in_its_own_words() -> None:
    refusal = PROFILE.refusal(parse_request("a sticker --background transparent"))
    assert refusal is not None
    assert refusal.startswith("GPT Image 2 on fal can't make transparent backgrounds")
    assert "Nothing was charged" in refusal
    assert PROFILE.refusal(parse_request("a sticker --background opaque")) is None
    assert PROFILE.refusal(parse_request("a sticker")) is None


@pytest.mark.parametrize(
    "text",
    [
        "a fox",
        "a fox --quality high --size 4k --n 4 --format jpeg",
        "a fox --quality auto --ar 21:9 --format webp",
        "a fox --size square --background opaque",
    ],
)
@pytest.mark.parametrize("kind", ["generate", "edit"])
def test_what_the_profile_sends_fits_the_schema_fal_publishes(text: str, kind: str) -> None:
    """The stand-in's rules are written from fal's sources, apart from the bot's profile."""
    args = PROFILE.arguments(kind, parse_request(text), ["https://x/1.png"], None)
    endpoint = PROFILE.endpoint_for(kind)
    assert validate(endpoint, args) == []
    declared = {field.name for field in PROFILE.schema_for(kind).fields}
    assert declared == FIELDS[endpoint]


def test_inputs_the_schema_does_not_list_are_never_built() -> None:
    schema = EndpointSchema("x/y", (InputField("prompt", "text", required=True, low=2),))
    assert schema.problems({"prompt": "ok"}) == []
    assert schema.problems({"prompt": "ok", "background": "transparent"}) == [
        "`background` is not an input of x/y"
    ]
    assert schema.problems({}) == ["`prompt` is required"]
    profile = PROFILE.__class__(
        "m", "M", schema, schema, gpt_image_2_prices(), inputs={"prompt": "prompt", "n": "n"}
    )
    with pytest.raises(InputsOutsideSchema, match="`n` is not an input"):
        profile.arguments("generate", parse_request("a fox"), [], None)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ({"width": 1024, "height": 768}, True),
        ("landscape_16_9", True),
        ({"width": 1000, "height": 1000}, False),
        ({"width": 1024, "height": 768, "depth": 3}, False),
        ("huge", False),
    ],
)
def test_image_size_field(value: object, ok: bool) -> None:
    field = InputField("image_size", "image_size")
    assert (field.problem(value) is None) is ok


def test_fal_records_match_a_request_without_its_image_urls() -> None:
    sent = PROFILE.arguments("edit", parse_request("make it blue"), ["https://fal/1.png"], None)
    schema = PROFILE.edit
    retried = sent | {"image_urls": ["data:image/png;base64,AA"]}
    assert schema.same_request(sent, retried)
    assert schema.same_request(sent, retried | {"sync_mode": False})
    assert not schema.same_request(sent, sent | {"prompt": "make it red"})


def test_the_mock_plays_the_same_model_under_its_own_endpoints() -> None:
    mock = PROFILE.with_endpoints("mock", "mock/generate", "mock/edit")
    assert mock.endpoints == ("mock/generate", "mock/edit")
    request = parse_request("a fox --n 2")
    assert mock.arguments("generate", request, [], None) == PROFILE.arguments(
        "generate", request, [], None
    )

"""How a request becomes each model's inputs on fal, and what each profile refuses (pure logic).

The stand-in's schemas (bot.testing.fal.schemas) are written from fal's sources apart from the
catalog, so every input a profile builds is checked against fal's published fields here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bot.domain.request import Lora, OptionError
from bot.providers.profiles import EndpointSchema, InputField, InputsOutsideSchema
from bot.requests.grammar import parse_request
from bot.testing.fal.models import FIELDS, UNIT_PRICES, validate
from tests.factories import CATALOG

URLS = ["https://x/1.png"]


def settled(model: str, text: str) -> Any:
    return CATALOG.get(model).complete(parse_request(text, default_quality=None), "medium")


# Each accepted option of each model, and the fal input it must become.
ACCEPTED: list[tuple[str, str, dict[str, Any]]] = [
    ("gpt-image-2", "--quality low", {"quality": "low"}),
    ("gpt-image-2", "--size portrait", {"image_size": {"width": 1024, "height": 1536}}),
    ("gpt-image-2", "--ar 16:9", {"image_size": {"width": 1280, "height": 720}}),
    ("gpt-image-2", "--n 3", {"num_images": 3}),
    ("gpt-image-2", "--format webp", {"output_format": "webp"}),
    ("flux-2", "--size square", {"image_size": {"width": 1024, "height": 1024}}),
    ("flux-2", "--format jpeg", {"output_format": "jpeg"}),
    ("flux-2", "--seed 7", {"seed": 7}),
    ("seedream", "--n 4", {"num_images": 4}),
    ("seedream", "--seed 9", {"seed": 9}),
    ("nano-banana-pro", "--ar 16:9", {"aspect_ratio": "16:9"}),
    ("nano-banana-pro", "--ar 21:9 --res 2k", {"aspect_ratio": "21:9", "resolution": "2K"}),
    ("nano-banana-pro", "--format webp --n 2", {"output_format": "webp", "num_images": 2}),
    ("flux-lora", "--size landscape --n 2", {"image_size": {"width": 1536, "height": 1024},
                                             "num_images": 2}),
    ("z-image-turbo", "--size wide --seed 1", {"image_size": {"width": 1536, "height": 864},
                                               "seed": 1}),
]  # fmt: skip


@pytest.mark.parametrize(("model", "options", "expected"), ACCEPTED)
def test_each_accepted_option_maps_to_its_fal_input(
    model: str, options: str, expected: dict[str, Any]
) -> None:
    profile = CATALOG.get(model)
    args = profile.arguments("generate", settled(model, f"a fox {options}"), [], None)
    for name, value in expected.items():
        assert args[name] == value
    assert validate(profile.endpoint_for("generate"), args) == []


# Each option a model lacks, refused with that model's own list of what it takes.
REFUSED: list[tuple[str, str, str]] = [
    ("flux-2", "--quality high", "`--size`, `--ar`, `--format`, `--seed`"),
    ("flux-2", "--n 2", "`--size`, `--ar`, `--format`, `--seed`"),
    ("seedream", "--size square", "`--n`, `--seed`"),
    ("seedream", "--format png", "`--n`, `--seed`"),
    ("seedream", "--quality low", "`--n`, `--seed`"),
    ("nano-banana-pro", "--size square", "`--ar`, `--res`, `--n`, `--format`, `--seed`"),
    ("nano-banana-pro", "--quality high", "`--ar`, `--res`, `--n`, `--format`, `--seed`"),
    ("gpt-image-2", "--seed 4", "`--quality`, `--size`, `--ar`, `--n`, `--format`, `--background`"),
    ("gpt-image-2", "--res 2k", "`--quality`, `--size`, `--ar`, `--n`, `--format`, `--background`"),
    ("flux-lora", "--quality low", "`--size`, `--ar`, `--n`, `--format`, `--seed`"),
    ("z-image-turbo", "--quality high", "`--size`, `--ar`, `--n`, `--format`, `--seed`"),
]


@pytest.mark.parametrize(("model", "options", "takes"), REFUSED)
def test_an_option_the_model_lacks_is_refused_with_its_list(
    model: str, options: str, takes: str
) -> None:
    label = CATALOG.get(model).label
    with pytest.raises(OptionError) as refused:
        settled(model, f"a fox {options}")
    option = options.split()[0]
    assert refused.value.message.startswith(f"{label} doesn't take `{option}`")
    assert f"It takes {takes};" in refused.value.message
    assert "Nothing was sent or charged" in refused.value.message


@pytest.mark.parametrize(
    ("model", "options", "words"),
    [
        ("flux-2", "--format webp", "jpeg, png"),
        ("nano-banana-pro", "--ar 7:5", "21:9"),
        ("nano-banana-pro", "--res 8k", "1K, 2K, 4K"),
        ("gpt-image-2", "--background transparent", "can't make transparent backgrounds"),
    ],
)
def test_a_value_outside_the_models_list_is_refused(model: str, options: str, words: str) -> None:
    with pytest.raises(OptionError, match=words):
        settled(model, f"a fox {options}")


def test_defaults_come_from_the_model() -> None:
    assert settled("gpt-image-2", "a fox").quality == "medium"
    assert settled("seedream", "a fox").quality is None
    nano = settled("nano-banana-pro", "a fox --ar 4:3")
    assert nano.size is None and nano.aspect_ratio == "4:3"
    assert settled("gpt-image-2", "a fox --ar 4:3").aspect_ratio is None


@pytest.mark.parametrize("profile", list(CATALOG), ids=lambda p: p.name)
def test_every_profile_declares_the_fields_fal_publishes(profile: Any) -> None:
    for schema in profile.endpoints_by_kind.values():
        assert {f.name for f in schema.fields} == FIELDS[schema.endpoint_id]
        assert profile.unit_price == UNIT_PRICES[schema.endpoint_id]


@pytest.mark.parametrize("profile", list(CATALOG), ids=lambda p: p.name)
def test_every_endpoint_gets_inputs_inside_its_schema(profile: Any) -> None:
    request = settled(profile.name, "a fox") if profile.has("generate") else parse_request("x y")
    for kind in profile.endpoints_by_kind:
        args = profile.arguments(kind, request, URLS, None)
        assert validate(profile.endpoint_for(kind), args) == [], kind


def test_edit_inputs_carry_the_images_and_the_mask() -> None:
    profile = CATALOG.get("gpt-image-2")
    urls = ["https://x/1.png", "data:image/png;base64,AA"]
    request = settled("gpt-image-2", "make it blue")
    args = profile.arguments("edit", request, urls, "https://x/mask.png")
    assert args["image_urls"] == urls and args["mask_url"] == "https://x/mask.png"
    assert "image_size" not in args
    with pytest.raises(InputsOutsideSchema, match="mask_url"):
        profile.arguments("edit", request, URLS, "m")


def test_background_is_never_sent_to_gpt_image_2() -> None:
    """GPT Image 2 on fal has no `background` input (fal-js GptImage2Input/EditInput)."""
    profile = CATALOG.get("gpt-image-2")
    args = profile.arguments("generate", settled("gpt-image-2", "a fox --background opaque"),
                             [], None)  # fmt: skip
    assert "background" not in args


def test_loras_and_fixed_inputs_are_sent_as_declared() -> None:
    lora = CATALOG.get("flux-lora")
    request = settled("flux-lora", "a fox").model_copy(
        update={"loras": (Lora(path="https://x/brand.safetensors", scale=0.8),)}
    )
    args = lora.arguments("generate", request, [], None)
    assert args["loras"] == [{"path": "https://x/brand.safetensors", "scale": 0.8}]
    nano = CATALOG.get("nano-banana-pro")
    assert (
        nano.arguments("generate", settled("nano-banana-pro", "a fox"), [], None)[
            "limit_generations"
        ]
        is True
    )
    upscale = CATALOG.role("upscale")
    args = upscale.arguments("upscale", parse_request("x y"), URLS, None)
    assert args == {"image_url": URLS[0], "upscale_factor": 2, "upscale_mode": "factor",
                    "output_format": "png"}  # fmt: skip


@pytest.mark.parametrize(
    ("model", "options", "usd"),
    [
        ("gpt-image-2", "--quality high --size square", "0.22"),
        ("gpt-image-2", "--quality low --size square --n 2", "0.02"),
        ("flux-2", "--size square", "0.03"),
        ("flux-2", "--size 1920x1088", "0.045"),
        ("seedream", "--n 3", "0.12"),
        ("nano-banana-pro", "--ar 1:1", "0.15"),
        ("nano-banana-pro", "--res 4k", "0.30"),
        ("flux-lora", "--size square", "0.035"),
        ("z-image-turbo", "--size square --n 2", "0.01"),
    ],
)
def test_estimates_follow_each_models_price(model: str, options: str, usd: str) -> None:
    profile = CATALOG.get(model)
    request = settled(model, f"a fox {options}")
    width, height = profile.default_size
    if request.size is not None:
        width, height = request.size.width, request.size.height
    assert profile.estimate_micros(request, width, height) == int(Decimal(usd) * 1_000_000)


def test_inputs_the_schema_does_not_list_are_never_built() -> None:
    schema = EndpointSchema("x/y", (InputField("prompt", "text", required=True, low=2),))
    assert schema.problems({"prompt": "ok"}) == []
    assert schema.problems({"prompt": "ok", "background": "transparent"}) == [
        "`background` is not an input of x/y"
    ]
    assert schema.problems({}) == ["`prompt` is required"]


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
    profile = CATALOG.get("gpt-image-2")
    sent = profile.arguments("edit", settled("gpt-image-2", "make it blue"), URLS, None)
    schema = profile.schema_for("edit")
    retried = sent | {"image_urls": ["data:image/png;base64,AA"]}
    assert schema.same_request(sent, retried)
    assert schema.same_request(sent, retried | {"sync_mode": False})
    assert not schema.same_request(sent, sent | {"prompt": "make it red"})


def test_the_mock_plays_every_model_under_its_own_endpoints() -> None:
    mock = CATALOG.with_endpoint_prefix("mock/")
    assert all(e.startswith("mock/") for e in mock.endpoints)
    request = settled("seedream", "a fox --n 2")
    assert mock.get("seedream").arguments("generate", request, [], None) == CATALOG.get(
        "seedream"
    ).arguments("generate", request, [], None)

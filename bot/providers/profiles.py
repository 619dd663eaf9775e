"""Model profiles: what a fal model accepts and what it can do, as data.

A profile names the model's endpoints and declares each endpoint's input fields with their
constraints, as fal publishes them (bot/providers/catalog.toml holds them; bot.providers.catalog
reads it). A request becomes inputs only through its model's profile, and the inputs are checked
against the endpoint's fields before anything is sent: the bot never sends a field the endpoint
does not list. An option the model lacks is refused, in words listing what it takes, before
anything is held or sent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

from bot.domain.request import ImageRequest, OptionError, Quality, check_size
from bot.domain.usd import format_usd, to_micros
from bot.providers.pricing import PriceTable

JobKind = Literal["generate", "edit"]
EndpointKind = Literal["generate", "edit", "upscale"]
FieldKind = Literal[
    "text", "integer", "number", "boolean", "choice", "image_size", "url", "urls", "loras"
]
Sizing = Literal["image_size", "aspect_ratio", "none"]

IMAGE_SIZE_PRESETS = (
    "square_hd", "square", "portrait_4_3", "portrait_16_9", "landscape_4_3", "landscape_16_9",
    "auto",
)  # fmt: skip
# The options a person types, in the order help and refusals list them.
OPTIONS = ("quality", "size", "ar", "res", "n", "format", "seed", "background")
_MEGAPIXEL = 1024 * 1024


class InputsOutsideSchema(Exception):
    """The bot built inputs its own profile does not allow: a bug, so nothing is sent."""


@dataclass(frozen=True)
class InputField:
    """One input of an endpoint: its JSON type and limits (lengths for text and lists)."""

    name: str
    kind: FieldKind
    required: bool = False
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None

    def problem(self, value: object) -> str | None:
        match self.kind:
            case "text":
                ok = isinstance(value, str) and self._within(len(value))
            case "integer":
                ok = type(value) is int and self._within(value)
            case "number":
                ok = type(value) in (int, float) and self._within(value)  # type: ignore[arg-type]
            case "boolean":
                ok = isinstance(value, bool)
            case "choice":
                ok = value in self.choices
            case "url":
                ok = _is_url(value)
            case "urls":
                ok = isinstance(value, list) and all(map(_is_url, value))
                ok = ok and self._within(len(value))  # type: ignore[arg-type]
            case "loras":
                ok = isinstance(value, list) and all(map(_is_lora, value))
            case "image_size":
                return _size_problem(value)
        return None if ok else f"{value!r:.60} is not allowed"

    def _within(self, number: float) -> bool:
        return (self.low is None or number >= self.low) and (
            self.high is None or number <= self.high
        )


@dataclass(frozen=True)
class EndpointSchema:
    """The inputs one fal endpoint takes, and nothing else."""

    endpoint_id: str
    fields: tuple[InputField, ...]

    def field(self, name: str) -> InputField | None:
        return next((f for f in self.fields if f.name == name), None)

    def problems(self, arguments: Mapping[str, Any]) -> list[str]:
        known = {f.name: f for f in self.fields}
        found = [f"`{name}` is not an input of {self.endpoint_id}" for name in arguments
                 if name not in known]  # fmt: skip
        for item in self.fields:
            if item.name not in arguments:
                if item.required:
                    found.append(f"`{item.name}` is required")
            elif (problem := item.problem(arguments[item.name])) is not None:
                found.append(f"`{item.name}`: {problem}")
        return found

    def same_request(self, sent: Mapping[str, Any], found: Mapping[str, Any]) -> bool:
        """Whether inputs in fal's records are the ones sent. Image inputs are left out: a
        retried job may send the same image by another URL (fal's copy, or Slack's bytes)."""
        images = {f.name for f in self.fields if f.kind in ("url", "urls")}
        return all(found.get(name) == value for name, value in sent.items() if name not in images)

    def with_endpoint(self, endpoint_id: str) -> EndpointSchema:
        return replace(self, endpoint_id=endpoint_id)


@dataclass(frozen=True)
class Price:
    """How to estimate one picture: fal's per-image guide by quality and size (`guide`), a
    flat `usd` per image, or `usd` per megapixel rounded up (`first`: units the first counts
    for). `resolution` multiplies the price for a resolution tier (4K at double)."""

    per: Literal["guide", "image", "megapixel"]
    usd: Decimal = Decimal("0")
    first: int = 1
    resolution: Mapping[str, int] = field(default_factory=dict)

    def per_image(self, guide: PriceTable, quality: Quality | None, pixels: int) -> Decimal:
        if self.per == "image":
            return self.usd
        megapixels = math.ceil(pixels / _MEGAPIXEL)
        return self.usd * (megapixels + self.first - 1)


@dataclass(frozen=True)
class ModelProfile:
    """A fal model as the bot uses it: endpoints and their inputs, what it can do, prices.

    `inputs` maps what a request carries to the endpoint's input names; a request value the map
    leaves out is never sent, and an option it leaves out is refused. `fixed` inputs go with
    every request of the model.
    """

    name: str
    label: str
    endpoints_by_kind: Mapping[EndpointKind, EndpointSchema]
    inputs: Mapping[str, str]
    price: Price
    guide: PriceTable
    unit: str = "unit"
    unit_price: Decimal = Decimal("1")
    about: str = ""
    source: str = ""
    fixed: Mapping[str, Any] = field(default_factory=dict)
    backgrounds: frozenset[str] = frozenset({"auto"})
    final_quality: Quality | None = None
    default_size: tuple[int, int] = (1024, 1024)

    # What it can do ------------------------------------------------------------------------

    def has(self, kind: EndpointKind) -> bool:
        return kind in self.endpoints_by_kind

    def endpoint_for(self, kind: EndpointKind) -> str:
        return self.schema_for(kind).endpoint_id

    def schema_for(self, kind: EndpointKind) -> EndpointSchema:
        schema = self.endpoints_by_kind.get(kind)
        if schema is None:
            raise KeyError(f"{self.name} has no {kind} endpoint")
        return schema

    def schema_of(self, endpoint_id: str) -> EndpointSchema | None:
        return next((s for s in self.endpoints_by_kind.values() if s.endpoint_id == endpoint_id),
                    None)  # fmt: skip

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(schema.endpoint_id for schema in self.endpoints_by_kind.values())

    @property
    def options(self) -> tuple[str, ...]:
        """The options a person may give this model."""
        return tuple(option for option in OPTIONS if self._input_of(option) is not None)

    def choices(self, option: str) -> tuple[str, ...]:
        """The values a choice option takes (qualities, formats, ratios, resolutions)."""
        found = self._field_of(option)
        return found.choices if found is not None else ()

    @property
    def max_images(self) -> int:
        found = self._field_of("n")
        return int(found.high) if found is not None and found.high is not None else 1

    @property
    def max_references(self) -> int:
        found = self._field_of("image_urls", "edit")
        return int(found.high) if found is not None and found.high is not None else 0

    @property
    def takes_mask(self) -> bool:
        return self._field_of("mask_url", "edit") is not None

    @property
    def takes_loras(self) -> bool:
        return self._field_of("loras") is not None

    @property
    def sizing(self) -> Sizing:
        if self._input_of("size") is not None:
            return "image_size"
        return "aspect_ratio" if self._input_of("ar") is not None else "none"

    def _input_of(self, option: str) -> str | None:
        if option == "background":
            return "background" if len(self.backgrounds) > 1 else None
        if option == "ar" and "ar" not in self.inputs:
            return self.inputs.get("size")  # a ratio becomes a size for these models
        return self.inputs.get(option)

    def _field_of(self, option: str, kind: EndpointKind | None = None) -> InputField | None:
        name = self.inputs.get(option)
        kinds = [kind] if kind else list(self.endpoints_by_kind)
        for each in kinds:
            schema = self.endpoints_by_kind.get(each)
            if name is not None and schema is not None and (found := schema.field(name)):
                return found
        return None

    # From a request to fal's inputs ---------------------------------------------------------

    def complete(self, request: ImageRequest, default_quality: Quality) -> ImageRequest:
        """The request with this model's defaults, or OptionError naming what it takes."""
        asked = _asked(request)
        if request.background != "auto" and request.background not in self.backgrounds:
            raise OptionError(
                f"{self.label} on fal can't make {request.background} backgrounds, so I didn't"
                " send this request. Leave out `--background`, or ask for a plain background in"
                " the prompt. Nothing was charged."
            )
        if self.sizing == "aspect_ratio" and request.size is not None and request.aspect_ratio:
            asked.discard("size")  # the ratio was fitted to a size for models that take sizes
        lacking = [option for option in asked if self._input_of(option) is None]
        if lacking:
            raise OptionError(self._lacks(lacking[0]))
        chosen = {"quality": request.quality, "format": request.output_format,
                  "ar": request.aspect_ratio, "res": request.resolution}  # fmt: skip
        for option, value in chosen.items():
            choices = self.choices(option) if self.inputs.get(option) else ()
            if value is not None and option in asked and choices and value not in choices:
                raise OptionError(
                    f"{self.label} takes `--{option}` {', '.join(choices)}, not"
                    f" `{value}`. Nothing was sent or charged."
                )
        if request.n > self.max_images:
            raise OptionError(
                f"{self.label} makes at most {self.max_images} image"
                f"{'s' if self.max_images > 1 else ''} per request. Nothing was sent or charged."
            )
        update: dict[str, Any] = {"model": self.name}
        if self.sizing == "aspect_ratio":
            update["size"] = None
        else:
            update["aspect_ratio"] = None
        if request.quality is None and self.choices("quality"):
            update["quality"] = default_quality
        return request.model_copy(update=update)

    def _lacks(self, option: str) -> str:
        takes = ", ".join(f"`--{o}`" for o in self.options) or "no options"
        return (
            f"{self.label} doesn't take `--{option}`. It takes {takes}; see `/image models`."
            " Nothing was sent or charged."
        )

    def arguments(
        self,
        kind: EndpointKind,
        request: ImageRequest,
        image_urls: list[str],
        mask_url: str | None,
    ) -> dict[str, Any]:
        """The endpoint's inputs for this request; InputsOutsideSchema if the schema says no."""
        images: dict[str, Any] = {}
        if kind == "edit":
            images["image_urls"] = image_urls
            if mask_url is not None:
                images["mask_url"] = mask_url
        if kind == "upscale" and image_urls:
            images["image_url"] = image_urls[0]
        args = self.request_inputs(kind, request) | self._mapped(images)
        problems = self.schema_for(kind).problems(args)
        if problems:
            raise InputsOutsideSchema("; ".join(problems))
        return args

    def request_inputs(self, kind: EndpointKind, request: ImageRequest) -> dict[str, Any]:
        """The inputs a request sends besides its images (what fal's records can match)."""
        values: dict[str, Any] = {"prompt": request.prompt, "n": request.n}
        optional = {
            "quality": request.quality, "format": request.output_format,
            "ar": request.aspect_ratio, "res": request.resolution, "seed": request.seed,
        }  # fmt: skip
        values |= {key: value for key, value in optional.items() if value is not None}
        if request.size is not None:
            values["size"] = request.size.as_fal()
        if request.background != "auto":
            values["background"] = request.background
        if request.loras:
            values["loras"] = [lora.model_dump() for lora in request.loras]
        if kind == "upscale":
            values = {"factor": 2} | ({"seed": request.seed} if request.seed is not None else {})
        schema = self.schema_for(kind)
        fixed = {k: v for k, v in self.fixed.items() if schema.field(k) is not None}
        return fixed | self._mapped(values)

    def _mapped(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {self.inputs[key]: value for key, value in values.items() if key in self.inputs}

    # Prices ----------------------------------------------------------------------------------

    def estimate_micros(
        self, request: ImageRequest, width: int, height: int, input_images: int = 0
    ) -> int:
        """What the request should cost, held against a budget before fal runs it."""
        if self.price.per == "guide":
            quality = request.quality or self.final_quality or "high"
            return self.guide.estimate_micros(quality, width, height, request.n, input_images)
        usd = self.price.per_image(self.guide, request.quality, width * height) * request.n
        usd *= self.price.resolution.get(request.resolution or "", 1)
        if self.price.per == "megapixel" and input_images:
            usd += self.price.usd * input_images * math.ceil(width * height / _MEGAPIXEL)
        return to_micros(usd)

    def example_price(self, quality: Quality | None = None) -> str:
        width, height = self.default_size
        request = ImageRequest(prompt="an example", model=self.name, quality=quality)
        return format_usd(self.estimate_micros(request, width, height))

    def with_endpoints(self, name: str, prefix: str) -> ModelProfile:
        """The same model under other endpoint ids (the local mock plays every model)."""
        renamed = {kind: schema.with_endpoint(prefix + schema.endpoint_id)
                   for kind, schema in self.endpoints_by_kind.items()}  # fmt: skip
        return replace(self, name=name, endpoints_by_kind=renamed)


def _asked(request: ImageRequest) -> set[str]:
    values = {
        "quality": request.quality, "size": request.size, "ar": request.aspect_ratio,
        "res": request.resolution, "format": request.output_format, "seed": request.seed,
    }  # fmt: skip
    asked = {option for option, value in values.items() if value is not None}
    if request.n > 1:
        asked.add("n")
    if request.background != "auto":
        asked.add("background")
    return asked


def _is_url(value: object) -> bool:
    # Which schemes fal reads is fal's rule (the stand-in holds the bot to it); a profile only
    # checks that an image input is a URL at all.
    return isinstance(value, str) and ("://" in value or value.startswith("data:"))


def _is_lora(value: object) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("path"), str)
        and set(value) <= {"path", "scale"}
    )


def _size_problem(value: object) -> str | None:
    if isinstance(value, str):
        return None if value in IMAGE_SIZE_PRESETS else f"{value!r:.40} is not a size preset"
    if not isinstance(value, dict) or set(value) != {"width", "height"}:
        return "expected a preset or {width, height}"
    width, height = value["width"], value["height"]
    if type(width) is not int or type(height) is not int:
        return "width and height must be whole numbers"
    try:
        check_size(width, height)
    except ValueError as exc:
        return str(exc)
    return None

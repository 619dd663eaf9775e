"""Model profiles: what a fal model accepts and what it can do, as data.

A profile names the model's endpoints and declares each endpoint's input fields with their
constraints, as fal publishes them. A request becomes inputs only through the profile, and the
inputs are checked against the endpoint's fields before anything is sent: the bot never sends
a field the endpoint does not list. What the model cannot do (a transparent background, for
GPT Image 2) is refused in the profile's own words before anything is held or sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from bot.domain.request import (
    MAX_IMAGES,
    MAX_PROMPT_CHARS,
    MIN_PROMPT_CHARS,
    OUTPUT_FORMATS,
    QUALITIES,
    Background,
    ImageRequest,
    check_size,
)
from bot.providers.pricing import PriceTable, gpt_image_2_prices

JobKind = Literal["generate", "edit"]
FieldKind = Literal["text", "integer", "boolean", "choice", "image_size", "url", "urls"]

IMAGE_SIZE_PRESETS = (
    "square_hd", "square", "portrait_4_3", "portrait_16_9", "landscape_4_3", "landscape_16_9",
    "auto",
)  # fmt: skip


class InputsOutsideSchema(Exception):
    """The bot built inputs its own profile does not allow: a bug, so nothing is sent."""


@dataclass(frozen=True)
class InputField:
    """One input of an endpoint: its JSON type and limits (lengths for text and lists)."""

    name: str
    kind: FieldKind
    required: bool = False
    choices: tuple[str, ...] = ()
    low: int | None = None
    high: int | None = None

    def problem(self, value: object) -> str | None:
        match self.kind:
            case "text":
                ok = isinstance(value, str) and self._within(len(value))
            case "integer":
                ok = type(value) is int and self._within(value)
            case "boolean":
                ok = isinstance(value, bool)
            case "choice":
                ok = value in self.choices
            case "url":
                ok = _is_url(value)
            case "urls":
                ok = isinstance(value, list) and all(map(_is_url, value))
                ok = ok and self._within(len(value))  # type: ignore[arg-type]
            case "image_size":
                return _size_problem(value)
        return None if ok else f"{value!r:.60} is not allowed"

    def _within(self, number: int) -> bool:
        return (self.low is None or number >= self.low) and (
            self.high is None or number <= self.high
        )


@dataclass(frozen=True)
class EndpointSchema:
    """The inputs one fal endpoint takes, and nothing else."""

    endpoint_id: str
    fields: tuple[InputField, ...]

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
class ModelProfile:
    """A fal model as the bot uses it: endpoints and their inputs, what it can do, prices.

    `backgrounds` are the backgrounds its pictures can have; `inputs` maps what a request
    carries (prompt, quality, n, output_format, size, background, image_urls, mask_url) to the
    endpoint's input names, and a request value the map leaves out is never sent.
    """

    name: str
    label: str
    text: EndpointSchema
    edit: EndpointSchema
    prices: PriceTable
    backgrounds: frozenset[Background] = frozenset({"auto"})
    inputs: Mapping[str, str] = field(default_factory=dict)

    def endpoint_for(self, kind: JobKind) -> str:
        return self.schema_for(kind).endpoint_id

    def schema_for(self, kind: JobKind) -> EndpointSchema:
        return self.edit if kind == "edit" else self.text

    def schema_of(self, endpoint_id: str) -> EndpointSchema | None:
        return next((s for s in (self.text, self.edit) if s.endpoint_id == endpoint_id), None)

    @property
    def endpoints(self) -> tuple[str, ...]:
        return (self.text.endpoint_id, self.edit.endpoint_id)

    def refusal(self, request: ImageRequest) -> str | None:
        """Why the model cannot do what the request asks, in words for the person; or None."""
        if request.background not in self.backgrounds:
            return (
                f"{self.label} on fal can't make {request.background} backgrounds, so I didn't"
                " send this request. Leave out `--background`, or ask for a plain background in"
                " the prompt. Nothing was charged."
            )
        return None

    def arguments(
        self, kind: JobKind, request: ImageRequest, image_urls: list[str], mask_url: str | None
    ) -> dict[str, Any]:
        """The endpoint's inputs for this request; InputsOutsideSchema if the schema says no."""
        images: dict[str, Any] = {}
        if kind == "edit":
            images["image_urls"] = image_urls
            if mask_url is not None:
                images["mask_url"] = mask_url
        args = self.request_inputs(kind, request) | self._mapped(images)
        problems = self.schema_for(kind).problems(args)
        if problems:
            raise InputsOutsideSchema("; ".join(problems))
        return args

    def request_inputs(self, kind: JobKind, request: ImageRequest) -> dict[str, Any]:
        """The inputs a request sends besides its images (what fal's records can match)."""
        values: dict[str, Any] = {
            "prompt": request.prompt,
            "quality": request.quality,
            "n": request.n,
            "output_format": request.output_format,
        }
        if request.size is not None:
            values["size"] = request.size.as_fal()
        if request.background != "auto":
            values["background"] = request.background
        return self._mapped(values)

    def _mapped(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {self.inputs[key]: value for key, value in values.items() if key in self.inputs}

    def with_endpoints(self, name: str, text: str, edit: str) -> ModelProfile:
        """The same model under other endpoint ids (the local mock plays GPT Image 2)."""
        return replace(
            self, name=name, text=self.text.with_endpoint(text), edit=self.edit.with_endpoint(edit)
        )


class ProfiledProvider:
    """A provider whose requests map to inputs the way its ModelProfile says."""

    profile: ModelProfile

    def endpoint_for(self, kind: JobKind) -> str:
        return self.profile.endpoint_for(kind)

    def arguments(
        self, kind: JobKind, request: ImageRequest, image_urls: list[str], mask_url: str | None
    ) -> dict[str, Any]:
        return self.profile.arguments(kind, request, image_urls, mask_url)


# GPT Image 2's inputs on fal, field by field: fal-js `libs/client/src/types/endpoints.ts`
# (GptImage2Input, GptImage2EditInput) and the model pages `fal.ai/models/openai/gpt-image-2/
# llms.txt` and `.../edit/llms.txt`. There is no `background` input (and no BYOK key).
_COMMON = (
    InputField("prompt", "text", required=True, low=MIN_PROMPT_CHARS, high=MAX_PROMPT_CHARS),
    InputField("image_size", "image_size"),
    InputField("quality", "choice", choices=QUALITIES),
    InputField("num_images", "integer", low=1, high=MAX_IMAGES),
    InputField("output_format", "choice", choices=OUTPUT_FORMATS),
    InputField("sync_mode", "boolean"),
)
_EDIT_ONLY = (
    # "A maximum of 16 images are allowed" (GptImage2EditInput.image_urls).
    InputField("image_urls", "urls", required=True, low=1, high=16),
    InputField("mask_url", "url"),
)
_GPT_IMAGE_2_INPUTS = {
    "prompt": "prompt",
    "quality": "quality",
    "n": "num_images",
    "output_format": "output_format",
    "size": "image_size",
    "image_urls": "image_urls",
    "mask_url": "mask_url",
}


def gpt_image_2(prices: PriceTable | None = None) -> ModelProfile:
    """OpenAI's GPT Image 2 on fal. Its pictures are always opaque (other hosts of the model
    say it makes no transparent backgrounds), so `--background opaque` asks for nothing new."""
    return ModelProfile(
        name="gpt-image-2",
        label="GPT Image 2",
        text=EndpointSchema("openai/gpt-image-2", _COMMON),
        edit=EndpointSchema("openai/gpt-image-2/edit", _COMMON + _EDIT_ONLY),
        prices=prices or gpt_image_2_prices(),
        backgrounds=frozenset({"auto", "opaque"}),
        inputs=_GPT_IMAGE_2_INPUTS,
    )


def _is_url(value: object) -> bool:
    # Which schemes fal reads is fal's rule (the stand-in holds the bot to it); a profile only
    # checks that an image input is a URL at all.
    return isinstance(value, str) and ("://" in value or value.startswith("data:"))


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

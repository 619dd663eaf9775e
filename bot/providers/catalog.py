"""The model catalog: the profiles shipped in catalog.toml plus an operator's file, and roles.

Read once at start with tomllib. A file that does not parse, or a model it describes badly,
raises CatalogError with one line naming the file, the model and the problem; start-up stops
on it. Which model does what by default is a role: default, draft, final, edit, upscale.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal, get_args

from bot.config import ConfigError, Settings
from bot.domain.request import QUALITIES, ImageRequest, OptionError
from bot.domain.usd import format_usd
from bot.providers.pricing import (
    PriceFileError,
    PriceTable,
    gpt_image_2_prices,
    load_price_file,
    parse_price,
)
from bot.providers.profiles import (
    EndpointKind,
    EndpointSchema,
    FieldKind,
    InputField,
    ModelProfile,
    Price,
)

Role = Literal["default", "draft", "final", "edit", "upscale"]
ROLES: tuple[Role, ...] = get_args(Role)
_KINDS: tuple[str, ...] = get_args(FieldKind)
_ENDPOINT_KEYS: dict[str, EndpointKind] = {"text": "generate", "edit": "edit", "upscale": "upscale"}
_REQUEST_KEYS = frozenset(
    {"prompt", "quality", "size", "ar", "res", "n", "format", "seed", "background", "loras",
     "image_urls", "image_url", "mask_url", "factor"}
)  # fmt: skip


class CatalogError(ValueError):
    """A models file the bot cannot use; the message is one line naming the problem."""


@dataclass(frozen=True)
class Catalog:
    profiles: Mapping[str, ModelProfile]
    roles: Mapping[Role, str]

    def __iter__(self) -> Iterator[ModelProfile]:
        return iter(self.profiles.values())

    def get(self, name: str) -> ModelProfile:
        """The named model, or an OptionError listing the names there are."""
        profile = self.profiles.get(name.strip().lower())
        if profile is None:
            names = ", ".join(f"`{n}`" for n in self.profiles)
            raise OptionError(f"There's no model `{name}`. The models are {names}.")
        return profile

    def role(self, role: Role) -> ModelProfile:
        return self.profiles[self.roles[role]]

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(e for profile in self for e in profile.endpoints)

    def profile_of(self, endpoint_id: str) -> ModelProfile | None:
        return next((p for p in self if p.schema_of(endpoint_id) is not None), None)

    def schema_of(self, endpoint_id: str) -> EndpointSchema | None:
        profile = self.profile_of(endpoint_id)
        return profile.schema_of(endpoint_id) if profile else None

    def unit_price(self, endpoint_id: str) -> Decimal:
        profile = self.profile_of(endpoint_id)
        return profile.unit_price if profile else Decimal("1")

    def final_of(self, draft: ImageRequest) -> ImageRequest:
        """A draft's prompt on the final model at its final quality: what Final runs. The
        draft's size carries over where the final model takes sizes; its model's own inputs
        (seed, LoRA, resolution) do not."""
        final = self.role("final")
        keep = {"prompt": draft.prompt, "model": final.name, "n": min(draft.n, final.max_images),
                "quality": final.final_quality}  # fmt: skip
        if final.sizing == "image_size" and draft.size is not None:
            keep["size"] = draft.size
        if draft.output_format in final.choices("format"):
            keep["output_format"] = draft.output_format
        return final.complete(ImageRequest.model_validate(keep), final.final_quality or "high")

    def final_offer(self, draft: ImageRequest, width: int, height: int) -> str:
        """The Final button's words: "GPT Image 2 · high · ~$0.22"."""
        final = self.role("final")
        request = self.final_of(draft)
        if request.size is not None:
            width, height = request.size.width, request.size.height
        price = format_usd(final.estimate_micros(request, width, height))
        return " · ".join(filter(None, [final.label, request.quality, f"~{price}"]))

    def with_endpoint_prefix(self, prefix: str) -> Catalog:
        """Every model under endpoints renamed with `prefix` (the local mock's)."""
        renamed = {n: p.with_endpoints(n, prefix) for n, p in self.profiles.items()}
        return replace(self, profiles=renamed)


def load_catalog(guide: PriceTable, extra: Path | None = None) -> Catalog:
    """The shipped catalog, with an operator's file (if any) laid over it by model name."""
    shipped = files("bot.providers").joinpath("catalog.toml").read_text(encoding="utf-8")
    data = _parse(shipped, "the shipped catalog")
    if extra is not None:
        try:
            text = extra.read_text(encoding="utf-8")
        except OSError as exc:
            raise CatalogError(f"models file {extra}: cannot read it ({exc.strerror})") from None
        more = _parse(text, f"models file {extra}")
        data["models"] = {**data.get("models", {}), **more.get("models", {})}
        data["roles"] = {**data.get("roles", {}), **more.get("roles", {})}
    where = f"models file {extra}" if extra is not None else "the shipped catalog"
    profiles = {}
    for name, spec in data.get("models", {}).items():
        try:
            profiles[name] = _profile(name, spec, guide)
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise CatalogError(f"{where}: model `{name}`: {_reason(exc)}") from None
    roles: dict[Role, str] = {}
    for role in ROLES:
        named = data.get("roles", {}).get(role)
        if named not in profiles:
            raise CatalogError(f"{where}: role `{role}` names no model of the catalog ({named!r})")
        roles[role] = named
    return Catalog(profiles, roles)


def price_table(settings: Settings) -> PriceTable:
    """GPT Image 2's per-image guide, with the operator's price file laid over it."""
    table = gpt_image_2_prices()
    if settings.price_file is not None:
        try:
            table = load_price_file(settings.price_file, table)
        except PriceFileError as exc:
            raise ConfigError(f"IMAGEBOT_PRICE_FILE: {exc}") from None
    return table


def model_catalog(settings: Settings) -> Catalog:
    """The shipped models and the operator's file; a bad file stops start-up, named."""
    try:
        return load_catalog(price_table(settings), settings.models_file)
    except CatalogError as exc:
        raise ConfigError(f"IMAGEBOT_MODELS_FILE: {exc}") from None


def _parse(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{where} is not valid TOML: {exc}") from None


def _reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"{exc.args[0]} is missing"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _profile(name: str, spec: Mapping[str, Any], guide: PriceTable) -> ModelProfile:
    if not isinstance(spec, Mapping):
        raise ValueError("expected a table")
    common = _fields(spec.get("fields", {}))
    endpoints: dict[EndpointKind, EndpointSchema] = {}
    for key, kind in _ENDPOINT_KEYS.items():
        if key in spec:
            extra = _fields(spec.get("edit_fields", {})) if kind == "edit" else ()
            endpoints[kind] = EndpointSchema(str(spec[key]), common + extra)
    if not endpoints:
        raise ValueError("it names no endpoint (text, edit or upscale)")
    inputs = {str(k): str(v) for k, v in spec.get("inputs", {}).items()}
    unknown = set(inputs) - _REQUEST_KEYS
    if unknown:
        raise ValueError(f"[inputs] has {', '.join(sorted(unknown))}, which requests don't carry")
    known = {f.name for schema in endpoints.values() for f in schema.fields}
    strays = sorted((set(inputs.values()) | set(spec.get("fixed", {}))) - known)
    if strays:
        raise ValueError(f"{', '.join(strays)} not among the endpoint's fields")
    final = spec.get("final_quality")
    if final is not None and final not in QUALITIES:
        raise ValueError(f"final_quality {final!r} is not one of {', '.join(QUALITIES)}")
    width, height = (int(side) for side in spec.get("default_size", (1024, 1024)))
    return ModelProfile(
        name=name, label=str(spec.get("label", name)), endpoints_by_kind=endpoints,
        inputs=inputs, price=_price(spec["price"]), guide=guide, unit=str(spec.get("unit", "unit")),
        unit_price=parse_price(spec["unit_price"]), about=str(spec.get("about", "")),
        source=str(spec.get("source", "")), fixed=dict(spec.get("fixed", {})),
        backgrounds=frozenset(spec.get("backgrounds", ["auto"])), final_quality=final,
        default_size=(width, height),
    )  # fmt: skip


def _fields(table: Mapping[str, Any]) -> tuple[InputField, ...]:
    return tuple(_field(str(name), str(rule)) for name, rule in table.items())


def _field(name: str, rule: str) -> InputField:
    """ "kind[:limits][ required]" -> InputField."""
    words = rule.split()
    required = "required" in words[1:]
    kind, _, limits = words[0].partition(":") if words else ("", "", "")
    if kind not in _KINDS:
        raise ValueError(f"field {name}: kind {kind!r} is not one of {', '.join(_KINDS)}")
    if kind == "choice":
        return InputField(name, "choice", required, choices=tuple(limits.split("|")))
    low = high = None
    if limits:
        lo, sep, hi = limits.partition("..")
        if not sep:
            raise ValueError(f"field {name}: limits {limits!r} should read MIN..MAX")
        low, high = float(lo), float(hi)
    return InputField(name, kind, required, low=low, high=high)  # type: ignore[arg-type]


def _price(spec: Mapping[str, Any]) -> Price:
    per = spec["per"]
    if per not in ("guide", "image", "megapixel"):
        raise ValueError(f"price.per {per!r} is not guide, image or megapixel")
    resolution = {str(k): int(v) for k, v in spec.get("resolution", {}).items()}
    return Price(per, parse_price(spec.get("usd", "0")), int(spec.get("first", 1)), resolution)


class CatalogProvider:
    """A provider whose requests map to inputs the way their model's profile says."""

    catalog: Catalog

    def arguments(
        self,
        kind: EndpointKind,
        request: ImageRequest,
        image_urls: list[str],
        mask_url: str | None,
    ) -> dict[str, Any]:
        return self.catalog.get(request.model).arguments(kind, request, image_urls, mask_url)

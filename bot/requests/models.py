"""Which model a request runs on, and styles: what admins chose, applied to what people asked.

A request runs on the model it names (`--model`), else its style's, else the draft model for
`--draft`, else the channel's default, else the workspace's, else the catalog's default. A
denied model is refused wherever the choice came from. A style is a model plus fixed inputs
(LoRA adapters, a prompt prefix and suffix, option defaults), stored as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import ValidationError

from bot.domain.request import ImageRequest, Lora, OptionError, Quality
from bot.providers.catalog import Catalog
from bot.providers.profiles import JobKind, ModelProfile
from bot.requests.grammar import parse_request
from bot.store import Store, StoredStyle


@dataclass(frozen=True)
class Style:
    name: str
    model: str
    loras: tuple[Lora, ...] = ()
    prefix: str = ""
    suffix: str = ""
    # Options in the grammar's words ("--size square --quality high"), applied when not asked.
    defaults: str = ""

    def dump(self, by: str) -> StoredStyle:
        body = {"loras": [lora.model_dump() for lora in self.loras], "prefix": self.prefix,
                "suffix": self.suffix, "defaults": self.defaults}  # fmt: skip
        return StoredStyle(self.name, self.model, json.dumps(body), by)

    @classmethod
    def load(cls, stored: StoredStyle) -> Style:
        body = json.loads(stored.definition_json)
        loras = tuple(Lora.model_validate(item) for item in body.get("loras", []))
        return cls(stored.name, stored.model, loras, body.get("prefix", ""),
                   body.get("suffix", ""), body.get("defaults", ""))  # fmt: skip

    def describe(self) -> str:
        parts = [f"*{self.name}*: `{self.model}`"]
        parts += [f"LoRA `{lora.path}` at {lora.scale:g}" for lora in self.loras]
        if self.prefix:
            parts.append(f"prefix “{self.prefix}”")
        if self.suffix:
            parts.append(f"suffix “{self.suffix}”")
        if self.defaults:
            parts.append(f"defaults `{self.defaults}`")
        return " · ".join(parts)


class Models:
    def __init__(self, catalog: Catalog, store: Store, default_quality: Quality) -> None:
        self.catalog = catalog
        self.store = store
        self.default_quality = default_quality

    async def settle(
        self, request: ImageRequest, kind: JobKind, channel_id: str
    ) -> tuple[ModelProfile, ImageRequest]:
        """The request on its model with that model's defaults (and its style's); OptionError
        when the model is denied or does not take what was asked."""
        settings = await self.store.model_settings()
        style = await self.style(request.style) if request.style else None
        if style is not None:
            if request.model and request.model != style.model:
                raise OptionError(
                    f"The style `{style.name}` runs on `{style.model}`: leave out `--model`."
                )
            request = self._styled(request, style)
        name = (
            request.model
            or (self.catalog.roles["draft"] if request.draft else "")
            or settings.channels.get(channel_id)
            or settings.workspace
            or self.catalog.roles["default"]
        )
        profile = self.catalog.get(name)
        if kind == "edit" and not profile.has("edit"):
            profile = self.catalog.role("edit")
        if profile.name in settings.denied:
            raise OptionError(
                f"{profile.label} (`{profile.name}`) isn't allowed in this workspace. See"
                " `/image models` for the ones that are. Nothing was sent or charged."
            )
        if request.loras and not profile.takes_loras:
            raise OptionError(f"{profile.label} takes no LoRA adapters.")
        return profile, profile.complete(request, self.default_quality)

    async def style(self, name: str) -> Style:
        found = await self.store.styles(name.lower())
        if not found:
            known = ", ".join(f"`{s.name}`" for s in await self.store.styles()) or "none yet"
            raise OptionError(f"There's no style `{name}`. The styles are: {known}.")
        return Style.load(found[0])

    def _styled(self, request: ImageRequest, style: Style) -> ImageRequest:
        prompt = " ".join(part for part in (style.prefix, request.prompt, style.suffix) if part)
        update: dict[str, object] = {"model": style.model, "prompt": prompt, "loras": style.loras}
        if style.defaults:
            defaults = parse_request(f"style defaults {style.defaults}", default_quality=None)
            for key in ("quality", "size", "aspect_ratio", "resolution", "output_format", "seed"):
                if getattr(request, key) is None and getattr(defaults, key) is not None:
                    update[key] = getattr(defaults, key)
            if request.n == 1 and defaults.n > 1:
                update["n"] = defaults.n
        try:
            return ImageRequest.model_validate(request.model_dump() | update)
        except ValidationError as exc:
            problem = exc.errors()[0]["msg"]
            raise OptionError(
                f"The style `{style.name}` makes a request I can't send: {problem}."
            ) from None

    async def listing(self) -> str:
        """`/image models`: what each allowed model does, its options and an example price."""
        settings = await self.store.model_settings()
        roles = {name: [r for r, n in self.catalog.roles.items() if n == name]
                 for name in self.catalog.profiles}  # fmt: skip
        default = settings.workspace or self.catalog.roles["default"]
        lines = ["*Models* (`/image --model NAME …`):"]
        for profile in self.catalog:
            if profile.name in settings.denied or not profile.has("generate"):
                continue
            marks = [r for r in roles[profile.name] if r not in ("default", "edit")]
            if profile.name == default:
                marks.insert(0, "default")
            tag = f" _({', '.join(marks)})_" if marks else ""
            lines.append(f"• *{profile.label}* `{profile.name}`{tag}: {profile.about}")
            lines.append(f"    {_abilities(profile)}")
        return "\n".join(lines)

    async def style_listing(self) -> str:
        found = [Style.load(stored) for stored in await self.store.styles()]
        if not found:
            return "No styles yet. Admins add them with `/image-admin style add`."
        return "\n".join(["*Styles* (`/image --style NAME …`):"] + [s.describe() for s in found])


def _abilities(profile: ModelProfile) -> str:
    does = ["text-to-image"]
    if profile.has("edit"):
        does.append("edit")
    if profile.takes_mask:
        does.append("mask")
    if profile.max_references > 1:
        does.append(f"up to {profile.max_references} references")
    if "transparent" in profile.backgrounds:
        does.append("transparent background")
    if "seed" in profile.options:
        does.append("seeds")
    if profile.takes_loras:
        does.append("LoRA")
    if profile.sizing == "aspect_ratio":
        ratios, tiers = ", ".join(profile.choices("ar")), ", ".join(profile.choices("res"))
        shape = f"`--ar` {ratios}; `--res` {tiers}"
    elif profile.sizing == "image_size":
        shape = "`--size WxH` or a preset, `--ar W:H`"
    else:
        shape = "its own size"
    qualities = profile.choices("quality")
    quality = f" · qualities {', '.join(qualities)}" if qualities else ""
    example = profile.example_price("medium" if qualities else None)
    width, height = profile.default_size
    return f"{', '.join(does)} · {shape}{quality} · e.g. {example} for {width}x{height}"

"""`/image-admin model …` and `/image-admin style …`: admins choose models and define styles.

Every answer is a sentence for the admin; nothing here is shown to anyone else. Only admins
(bot.slack.admins) may change anything, styles included.
"""

from __future__ import annotations

import logging
import re
import shlex

from bot.domain.request import Lora, OptionError
from bot.requests.grammar import parse_request
from bot.requests.models import Models, Style
from bot.slack.admins import Admins
from bot.slack.blockkit import escape

log = logging.getLogger(__name__)

_CHANNEL = re.compile(r"^<#([CG][A-Z0-9]+)(?:\|[^>]*)?>$")
_STYLE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
MODEL_USAGE = (
    "Use `model default <model>`, `model channel <#channel> <model|reset>`,"
    " `model allow <model>` or `model deny <model>`."
)
STYLE_USAGE = (
    'Use `style add <name> --model <model> [--lora <url>[:<scale>]]… [--prefix "…"]'
    ' [--suffix "…"] [options]`, `style remove <name>` or `style show <name>`.'
)


class ModelAdmin:
    def __init__(self, models: Models, admins: Admins) -> None:
        self.models = models
        self.admins = admins

    async def run(self, user_id: str, words: list[str]) -> str:
        if not await self.admins.is_admin(user_id):
            return "Only admins can change models and styles."
        try:
            if words[0] == "model":
                return await self._model(user_id, words[1:])
            return await self._style(user_id, words[1:])
        except OptionError as exc:
            return escape(exc.message)

    async def _model(self, by: str, words: list[str]) -> str:
        store, catalog = self.models.store, self.models.catalog
        match words:
            case ["default", name]:
                profile = catalog.get(name)
                await store.set_model("workspace", "", profile.name, by=by)
                return f"The workspace's default model is now {profile.label} (`{profile.name}`)."
            case ["channel", channel, "reset"] if _CHANNEL.match(channel):
                await store.clear_model("channel", _channel_id(channel))
                return f"{channel} uses the workspace's default model again."
            case ["channel", channel, name] if _CHANNEL.match(channel):
                profile = catalog.get(name)
                await store.set_model("channel", _channel_id(channel), profile.name, by=by)
                return f"{channel}'s default model is now {profile.label} (`{profile.name}`)."
            case ["allow", name]:
                profile = catalog.get(name)
                await store.clear_model("deny", profile.name)
                return f"{profile.label} (`{profile.name}`) is allowed."
            case ["deny", name]:
                profile = catalog.get(name)
                await store.set_model("deny", profile.name, profile.name, by=by)
                log.info("model denied model=%s by=%s", profile.name, by)
                return f"{profile.label} (`{profile.name}`) is no longer allowed, styles included."
        return MODEL_USAGE

    async def _style(self, by: str, words: list[str]) -> str:
        store = self.models.store
        match words:
            case ["remove", name]:
                removed = await store.delete_style(name.lower())
                return f"Removed the style `{name}`." if removed else f"There's no style `{name}`."
            case ["show", name]:
                return (await self.models.style(name)).describe()
            case ["add", name, *rest] if _STYLE_NAME.match(name.lower()):
                style = self._parsed(name.lower(), " ".join(rest))
                await store.save_style(style.dump(by))
                log.info("style saved name=%s model=%s by=%s", style.name, style.model, by)
                return f"Saved the style: {style.describe()}"
            case ["add", name, *_]:
                return f"`{escape(name)}` can't be a style's name: use letters, digits, - and _."
        return STYLE_USAGE

    def _parsed(self, name: str, text: str) -> Style:
        """A style from `--model M --lora URL[:SCALE]… --prefix "…" --suffix "…" [options]`."""
        try:
            tokens = shlex.split(text.replace("“", '"').replace("”", '"'))
        except ValueError as exc:
            raise OptionError(f"I couldn't read that: {exc}.") from None
        fields: dict[str, str] = {}
        loras: list[Lora] = []
        rest: list[str] = []
        while tokens:
            token = tokens.pop(0)
            if token in ("--model", "--lora", "--prefix", "--suffix"):
                if not tokens:
                    raise OptionError(f"`{token}` needs a value. {STYLE_USAGE}")
                value = tokens.pop(0)
                if token == "--lora":
                    loras.append(_lora(value))
                else:
                    fields[token[2:]] = value
            else:
                rest.append(token)
        if "model" not in fields:
            raise OptionError(f"A style needs `--model`. {STYLE_USAGE}")
        profile = self.models.catalog.get(fields["model"])
        if loras and not profile.takes_loras:
            raise OptionError(f"{profile.label} takes no LoRA adapters; `flux-lora` does.")
        defaults = " ".join(rest)
        if defaults:
            asked = parse_request(f"style defaults {defaults}", default_quality=None)
            profile.complete(asked, self.models.default_quality)
        return Style(name, profile.name, tuple(loras), fields.get("prefix", ""),
                     fields.get("suffix", ""), defaults)  # fmt: skip


def _channel_id(mention: str) -> str:
    found = _CHANNEL.match(mention)
    assert found is not None
    return found.group(1)


def _lora(value: str) -> Lora:
    """`<url>[:<scale>]`: the scale is what follows the last colon when it is a number."""
    path, _, scale = value.rpartition(":")
    try:
        if path and re.fullmatch(r"[0-9]+(\.[0-9]+)?", scale):
            return Lora(path=_unlinked(path), scale=float(scale))
        return Lora(path=_unlinked(value))
    except ValueError:
        raise OptionError(f"`{escape(value)}` isn't a LoRA: use <url>[:<scale 0-4>].") from None


def _unlinked(text: str) -> str:
    """Slack sends a link as <url> or <url|label>: the URL itself."""
    return text.strip("<>").split("|")[0]

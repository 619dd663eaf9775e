"""The model and style menus of the Edit and New image dialogs and of App Home: what the
workspace allows, as Block Kit select menus (bot.slack.blockkit keeps Slack's limits on them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.slack.blockkit import Block, input_block, static_select

MODEL_BLOCK = "model"
STYLE_BLOCK = "style"
MENU_INPUT = "value"

MenuKind = Literal["generate", "edit"]


@dataclass(frozen=True)
class MenuModel:
    name: str
    label: str
    makes: bool = True
    edits: bool = False

    @property
    def text(self) -> str:
        return f"{self.label} ({self.name})"


@dataclass(frozen=True)
class Menu:
    """What a person may choose: the allowed models (the default first) and the styles."""

    default: MenuModel
    models: tuple[MenuModel, ...]
    styles: tuple[str, ...] = ()

    def models_for(self, kind: MenuKind) -> list[tuple[str, str]]:
        """(text, value) of the models that can do `kind`."""
        fit = [m for m in self.models if (m.edits if kind == "edit" else m.makes)]
        return [(m.text, m.name) for m in fit]


def model_select(
    action_id: str, menu: Menu, kind: MenuKind, initial: str | None = None
) -> Block | None:
    """The model menu, or None when no model can do `kind`."""
    options = menu.models_for(kind)
    if not options:
        return None
    placeholder = f"Default: {menu.default.label}" if kind == "generate" else "The image's model"
    return static_select(action_id, options, placeholder=placeholder, initial=initial)


def style_select(action_id: str, menu: Menu, initial: str | None = None) -> Block | None:
    """The style menu, or None when admins have defined no style."""
    if not menu.styles:
        return None
    options = [(name, name) for name in menu.styles]
    return static_select(action_id, options, placeholder="No style", initial=initial)


def choice_blocks(
    menu: Menu, kind: MenuKind, model: str | None = None, style: str | None = None
) -> list[Block]:
    """The dialogs' optional Model and Style inputs (left out when there is nothing to pick)."""
    blocks = []
    models = model_select(MENU_INPUT, menu, kind, model)
    if models is not None:
        hint = "/image models says what each one does and costs"
        blocks.append(input_block(MODEL_BLOCK, "Model", models, optional=True, hint=hint))
    styles = style_select(MENU_INPUT, menu, style)
    if styles is not None:
        hint = "A style is a model with a look an admin set up: /image styles"
        blocks.append(input_block(STYLE_BLOCK, "Style", styles, optional=True, hint=hint))
    return blocks


def choice_options(model: str | None, style: str | None) -> str:
    """What the menus chose, in the words of `/image` (so it is checked like typed options)."""
    chosen = [f"--model {model}" if model else "", f"--style {style}" if style else ""]
    return " ".join(part for part in chosen if part)

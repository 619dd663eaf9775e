"""Block Kit pieces Slack always accepts: a person's words are escaped (and quoted) first, then
the text is clipped to Slack's limits as Slack counts them, without cutting `&amp;` or a
`<@U…>` in half. Every block the bot builds is made of these.

Limits from Slack's Block Kit reference (docs.slack.dev/reference/block-kit: section, context,
header, image, actions and input blocks; button and plain-text input elements) and its views
reference (docs.slack.dev/reference/views: title, submit and close 24 characters, 100 blocks).
Slack counts text after escaping
(`&` is `&amp;`, 5 characters; a quote's `>` is stored as `&gt;`, as message events show it);
lengths here are UTF-16 code units, never fewer than characters, so a text within them is
within Slack's count either way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

Block = dict[str, Any]

SECTION_TEXT = 3000
FIELD_TEXT = 2000
FIELDS = 10
HEADER_TEXT = 150
CONTEXT_TEXT = 3000
CONTEXT_ELEMENTS = 10
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
ACTION_ELEMENTS = 25
BLOCK_ID = 255
ALT_TEXT = 2000
INPUT_LABEL = 2000
INPUT_HINT = 2000
PLACEHOLDER = 150
VIEW_TITLE = 24
# A select menu: at most 100 options, each option's text 75 characters and its value 150
# (docs.slack.dev/reference/block-kit/block-elements/select-menu-element and
# .../composition-objects/option-object).
SELECT_OPTIONS = 100
OPTION_TEXT = 75
OPTION_VALUE = 150
MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
# The notification text of a message: Slack truncates past 40,000; a notification needs far less.
FALLBACK_TEXT = 3000
ELLIPSIS = "…"


def escape(text: str) -> str:
    """A person's words made inert in mrkdwn: no mention, link or special mention survives."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quote(text: str) -> str:
    """Every line as a block quote (the text should be escaped already)."""
    return "\n".join(f">{line}" if line else ">" for line in text.splitlines() or [""])


def slack_length(text: str) -> int:
    """Length in UTF-16 code units (a character outside the BMP counts two)."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


# In mrkdwn, `<…>` (mentions, links) and entities stay as they are; anything else is escaped.
_MARKUP = re.compile(r"(<[^<>]*>|&(?:amp|lt|gt);)")


def mrkdwn_length(text: str) -> int:
    """A mrkdwn text's length as Slack stores it."""
    return sum(_token_cost(token) for token in _MARKUP.split(text))


def _token_cost(token: str) -> int:
    return slack_length(token) if _MARKUP.fullmatch(token) else plain_length(token)


def plain_length(text: str) -> int:
    """A plain_text's length as Slack counts it: after escaping."""
    return slack_length(escape(text))


def clip(text: str, limit: int) -> str:
    """Escaped mrkdwn cut to `limit`, ending in an ellipsis when cut; an entity (`&amp;`) or a
    `<…>` the cut would split is left out whole."""
    if mrkdwn_length(text) <= limit:
        return text
    kept: list[str] = []
    budget = limit - len(ELLIPSIS)
    for token in _MARKUP.split(text):
        if _MARKUP.fullmatch(token):
            if _token_cost(token) > budget:
                break
            kept.append(token)
            budget -= _token_cost(token)
            continue
        part = _prefix(token, budget)
        kept.append(part)
        budget -= plain_length(part)
        if part != token:
            break
    return "".join(kept) + ELLIPSIS


def clip_plain(text: str, limit: int) -> str:
    if plain_length(text) <= limit:
        return text
    return _prefix(text, limit - len(ELLIPSIS)) + ELLIPSIS


_COSTS = {"&": 5, "<": 4, ">": 4}


def _prefix(text: str, budget: int) -> str:
    """The longest start of `text` whose escaped length is within `budget`."""
    used = 0
    for index, char in enumerate(text):
        used += _COSTS.get(char, 2 if ord(char) > 0xFFFF else 1)
        if used > budget:
            return text[:index]
    return text


# --- text objects and blocks -----------------------------------------------------------------


def mrkdwn(text: str, limit: int = SECTION_TEXT) -> Block:
    return {"type": "mrkdwn", "text": clip(text, limit)}


def plain(text: str, limit: int) -> Block:
    return {"type": "plain_text", "text": clip_plain(text, limit)}


def section(text: str) -> Block:
    return {"type": "section", "text": mrkdwn(text, SECTION_TEXT)}


def fields(pairs: Iterable[tuple[str, str]]) -> Block:
    """A section of labelled values (label bold, value under it)."""
    items = [mrkdwn(f"*{label}*\n{value}", FIELD_TEXT) for label, value in pairs]
    return {"type": "section", "fields": items[:FIELDS]}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, HEADER_TEXT)}


def context(*texts: str) -> Block:
    elements = [mrkdwn(text, CONTEXT_TEXT) for text in texts[:CONTEXT_ELEMENTS]]
    return {"type": "context", "elements": elements}


def divider() -> Block:
    return {"type": "divider"}


def button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    made: Block = {
        "type": "button",
        "text": plain(text, BUTTON_TEXT),
        "action_id": action_id,
        "value": value[:BUTTON_VALUE],
    }
    if style:
        made["style"] = style
    return made


def actions(block_id: str, elements: Sequence[Block]) -> Block:
    return {
        "type": "actions",
        "block_id": block_id[:BLOCK_ID],
        "elements": [*elements][:ACTION_ELEMENTS],
    }


def text_input(
    action_id: str,
    *,
    multiline: bool = False,
    min_length: int | None = None,
    max_length: int | None = None,
    placeholder: str | None = None,
) -> Block:
    made: Block = {"type": "plain_text_input", "action_id": action_id[:BLOCK_ID]}
    if multiline:
        made["multiline"] = True
    if min_length is not None:
        made["min_length"] = min_length
    if max_length is not None:
        made["max_length"] = max_length
    if placeholder is not None:
        made["placeholder"] = plain(placeholder, PLACEHOLDER)
    return made


def option(text: str, value: str) -> Block:
    return {"text": plain(text, OPTION_TEXT), "value": value[:OPTION_VALUE]}


def static_select(
    action_id: str,
    options: Sequence[tuple[str, str]],
    *,
    placeholder: str,
    initial: str | None = None,
) -> Block:
    """A menu of (text, value) options; `initial` (a value) is chosen when it is offered."""
    made_options = [option(text, value) for text, value in options][:SELECT_OPTIONS]
    made: Block = {
        "type": "static_select",
        "action_id": action_id[:BLOCK_ID],
        "placeholder": plain(placeholder, PLACEHOLDER),
        "options": made_options,
    }
    chosen = [item for item in made_options if item["value"] == initial]
    if chosen:
        made["initial_option"] = chosen[0]
    return made


def conversation_select(action_id: str, *, placeholder: str) -> Block:
    """A menu of channels (Slack lists those the person can see), where a card can go."""
    return {
        "type": "conversations_select",
        "action_id": action_id[:BLOCK_ID],
        "placeholder": plain(placeholder, PLACEHOLDER),
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
    }


def input_block(
    block_id: str, label: str, element: Block, *, optional: bool = False, hint: str | None = None
) -> Block:
    made: Block = {"type": "input", "block_id": block_id[:BLOCK_ID]}
    if optional:
        made["optional"] = True
    made["label"] = plain(label, INPUT_LABEL)
    if hint is not None:
        made["hint"] = plain(hint, INPUT_HINT)
    made["element"] = element
    return made


def slack_image(file_id: str, alt_text: str) -> Block:
    """An image block showing a file Slack holds (it must be shared where the viewer sees it)."""
    return {
        "type": "image",
        "slack_file": {"id": file_id},
        "alt_text": clip_plain(alt_text, ALT_TEXT) or "image",
    }


def text_blocks(text: str, most: int = 10) -> list[Block]:
    """Escaped mrkdwn in as many sections as it needs (at most `most`), split between lines."""
    blocks: list[Block] = []
    chunk: list[str] = []
    for line in text.split("\n"):
        if chunk and mrkdwn_length("\n".join([*chunk, line])) > SECTION_TEXT:
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    blocks.append(section("\n".join(chunk)))
    return blocks[:most]


def message_blocks(blocks: Sequence[Block]) -> list[Block]:
    return list(blocks[:MESSAGE_BLOCKS])


def view_blocks(blocks: Sequence[Block]) -> list[Block]:
    return list(blocks[:VIEW_BLOCKS])


def modal(
    callback_id: str,
    title: str,
    blocks: Sequence[Block],
    *,
    submit: str,
    close: str,
    private_metadata: str = "",
) -> Block:
    return {
        "type": "modal",
        "callback_id": callback_id[:BLOCK_ID],
        "private_metadata": private_metadata,
        "title": plain(title, VIEW_TITLE),
        "submit": plain(submit, VIEW_TITLE),
        "close": plain(close, VIEW_TITLE),
        "blocks": view_blocks(blocks),
    }


def home(blocks: Sequence[Block]) -> Block:
    """An App Home tab."""
    return {"type": "home", "blocks": view_blocks(blocks)}


def fallback(text: str) -> str:
    """A message's notification text (parsed as mrkdwn: escape a person's words first)."""
    return clip(text, FALLBACK_TEXT)

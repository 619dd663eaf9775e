"""Slack's Block Kit rules, enforced by the stand-in on every `blocks` and `view` it is sent.

slack_sdk.models does what it covers: `Block.parse(...)` (an unknown type is refused) and
`to_dict()`, which runs `validate_json()` on every nested object (counts of fields and
elements, many lengths, ids). It counts raw characters, while Slack counts text as it stores it,
escaped (`&` is `&amp;`; a mrkdwn `>` is `&gt;`, as message events carry it; `<@U…>` and links
stay as sent) - so lengths are checked again here that way, in UTF-16 code units (the stricter
reading where Slack does not say), with what the SDK leaves out: field and context text, empty
text, duplicate block ids, an image's source. Limits: docs.slack.dev/reference/block-kit
(blocks, block elements, composition objects) and docs.slack.dev/reference/views.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

JSONDict = dict[str, Any]
#: Given an image's `slack_file`, why Slack would refuse it (None when it would not).
FileRule = Callable[[Any], str | None]

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
BLOCK_ID = 255
# Where a text object sits -> the most Slack takes there.
TEXT_LIMITS = {
    ("section", "text"): 3000,
    ("section", "fields"): 2000,
    ("header", "text"): 150,
    ("context", "elements"): 3000,
    ("image", "title"): 2000,
    ("input", "label"): 2000,
    ("input", "hint"): 2000,
    ("button", "text"): 75,
    ("element", "placeholder"): 150,
    # docs.slack.dev/reference/block-kit/composition-objects/option-object: text 75 at most
    # (slack_sdk's Option says so too, but to_dict() leaves a select's options unchecked).
    ("option", "text"): 75,
    ("view", "title"): 24,
    ("view", "submit"): 24,
    ("view", "close"): 24,
}
ALT_TEXT = 2000
SECTION_FIELDS = 10
CONTEXT_ELEMENTS = 10
_CONTROL = re.compile(r"<[^<>]*>|&(?:amp|lt|gt);")


class BlockError(Exception):
    """Slack would answer `invalid_blocks`; the message says where, as Slack's `errors` do."""


def counted(text: str, kind: str) -> int:
    """A text's length as Slack counts it (see the module docstring)."""
    if kind == "plain_text":
        return _units(html.escape(text, quote=False))
    total, at = 0, 0
    for match in _CONTROL.finditer(text):
        total += _units(html.escape(text[at : match.start()], quote=False)) + _units(match[0])
        at = match.end()
    return total + _units(html.escape(text[at:], quote=False))


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def check_message_blocks(blocks: Any, files: FileRule) -> None:
    if not isinstance(blocks, list) or not blocks:
        raise BlockError("blocks must be a non-empty array")
    if len(blocks) > MESSAGE_BLOCKS:
        raise BlockError(f"no more than {MESSAGE_BLOCKS} items allowed [json-pointer:/blocks]")
    _check_blocks(blocks, files)
    _check_action_ids(blocks)


def _check_action_ids(blocks: list[Any]) -> None:
    """Slack asks an element's `action_id` to be unique among the action_ids of its block
    (docs.slack.dev/reference/block-kit/block-elements/button-element); the stand-in holds a
    message to the stricter reading, unique in the whole message, so a press names one button."""
    seen: set[str] = set()
    for index, block in enumerate(blocks):
        for element, path in _elements(block, f"/blocks/{index}"):
            action_id = element.get("action_id")
            if isinstance(action_id, str):
                if action_id in seen:
                    raise BlockError(f"duplicate action_id [json-pointer:{path}/action_id]")
                seen.add(action_id)


def check_view(view: Any, files: FileRule) -> None:
    if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
        raise BlockError("view type must be modal or home")
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or not blocks or len(blocks) > VIEW_BLOCKS:
        raise BlockError(f"a view has 1 to {VIEW_BLOCKS} blocks [json-pointer:/view/blocks]")
    try:
        View(**view).to_dict()
    except Exception as exc:  # the SDK raises several kinds for malformed views
        raise BlockError(f"{exc} [json-pointer:/view]") from None
    for key in ("title", "submit", "close"):
        if key in view:
            _check_text(view[key], TEXT_LIMITS[("view", key)], f"/view/{key}", plain=True)
    _check_blocks(blocks, files)


def _check_blocks(blocks: list[Any], files: FileRule) -> None:
    seen: set[str] = set()
    for index, block in enumerate(blocks):
        where = f"/blocks/{index}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise BlockError(f"a block needs a type [json-pointer:{where}]")
        try:
            parsed = Block.parse(block)
            if parsed is None:
                raise BlockError(f"unsupported type {block['type']!r}")
            parsed.to_dict()
        except Exception as exc:
            raise BlockError(f"{exc} [json-pointer:{where}]") from None
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 0 < len(block_id) <= BLOCK_ID:
                raise BlockError(f"invalid block_id [json-pointer:{where}/block_id]")
            if block_id in seen:
                raise BlockError(f"duplicate block_id [json-pointer:{where}/block_id]")
            seen.add(block_id)
        for text, limit, path, plain in _texts(block, where):
            _check_text(text, limit, path, plain=plain)
        for image, path in _images(block, where):
            _check_image(image, path, files)


def _texts(block: JSONDict, where: str) -> Iterator[tuple[Any, int, str, bool]]:
    """Every text object of a block, with its limit, its path and whether it must be plain."""
    kind = block["type"]
    if kind == "section":
        if "text" in block:
            yield block["text"], TEXT_LIMITS[("section", "text")], f"{where}/text", False
        items = block.get("fields") or []
        if len(items) > SECTION_FIELDS:
            raise BlockError(f"too many fields [json-pointer:{where}/fields]")
        for at, item in enumerate(items):
            yield item, TEXT_LIMITS[("section", "fields")], f"{where}/fields/{at}", False
    elif kind in ("header", "image", "input"):
        for key in ("text", "title", "label", "hint"):
            if (kind, key) in TEXT_LIMITS and key in block:
                yield block[key], TEXT_LIMITS[(kind, key)], f"{where}/{key}", True
    elif kind == "context":
        elements = block.get("elements") or []
        if len(elements) > CONTEXT_ELEMENTS:
            raise BlockError(f"too many elements [json-pointer:{where}/elements]")
        for at, item in enumerate(elements):
            if isinstance(item, dict) and item.get("type") in ("plain_text", "mrkdwn"):
                limit = TEXT_LIMITS[("context", "elements")]
                yield item, limit, f"{where}/elements/{at}", False
    for element, path in _elements(block, where):
        if element.get("type") == "button" and "text" in element:
            yield element["text"], TEXT_LIMITS[("button", "text")], f"{path}/text", True
        if "placeholder" in element:
            limit = TEXT_LIMITS[("element", "placeholder")]
            yield element["placeholder"], limit, f"{path}/placeholder", True
        for at, item in enumerate(element.get("options") or []):
            limit = TEXT_LIMITS[("option", "text")]
            yield item.get("text"), limit, f"{path}/options/{at}/text", True


def _elements(block: JSONDict, where: str) -> Iterator[tuple[JSONDict, str]]:
    if isinstance(block.get("accessory"), dict):
        yield block["accessory"], f"{where}/accessory"
    if isinstance(block.get("element"), dict):
        yield block["element"], f"{where}/element"
    if block["type"] in ("actions", "context"):
        for at, item in enumerate(block.get("elements") or []):
            if isinstance(item, dict):
                yield item, f"{where}/elements/{at}"


def _images(block: JSONDict, where: str) -> Iterator[tuple[JSONDict, str]]:
    if block["type"] == "image":
        yield block, where
    for element, path in _elements(block, where):
        if element.get("type") == "image":
            yield element, path


def _check_text(text: Any, limit: int, path: str, *, plain: bool) -> None:
    kinds = ("plain_text",) if plain else ("plain_text", "mrkdwn")
    if not isinstance(text, dict) or text.get("type") not in kinds:
        raise BlockError(f"expected a {' or '.join(kinds)} text object [json-pointer:{path}]")
    value = text.get("text")
    if not isinstance(value, str) or not value:
        raise BlockError(f"must be more than 0 characters [json-pointer:{path}/text]")
    if counted(value, text["type"]) > limit:
        raise BlockError(f"must be less than {limit + 1} characters [json-pointer:{path}/text]")


def _check_image(image: JSONDict, path: str, files: FileRule) -> None:
    alt = image.get("alt_text")
    if not isinstance(alt, str) or not alt or counted(alt, "plain_text") > ALT_TEXT:
        raise BlockError(f"invalid alt_text [json-pointer:{path}/alt_text]")
    if ("image_url" in image) == ("slack_file" in image):
        raise BlockError(f"needs image_url or slack_file, not both [json-pointer:{path}]")
    if "slack_file" in image:
        reason = files(image["slack_file"])
        if reason is not None:
            raise BlockError(f"{reason} [json-pointer:{path}/slack_file]")

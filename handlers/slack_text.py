"""Reading text the way Slack sends it."""

from __future__ import annotations

import re

_ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">"}
_ENTITY = re.compile("|".join(_ENTITIES))


def unescape(text: str) -> str:
    """Slack escapes only &, < and > in message and command text."""
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(0)], text)

"""Records and small helpers for the loopback Slack Web API stand-in (bot.testing.slack.standin)."""

from __future__ import annotations

import base64
import binascii
import builtins
import itertools
import json
import mimetypes
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

JSONDict = dict[str, Any]

#: Arguments Slack accepts as JSON-encoded strings; recorded decoded for convenience.
# Form arguments Slack reads as JSON (slack-sdk sends `outputs` of functions.completeSuccess
# as a JSON string in a form, web/async_client.py).
JSON_STRING_ARGS = ("blocks", "files", "metadata", "view", "attachments", "outputs")


class SlackError(Exception):
    """Raised by a method handler; answered as ``{"ok": false, "error": error}`` (with
    ``errors: [detail]`` when there is one, as Slack explains invalid_blocks)."""

    def __init__(self, error: str, detail: str | None = None) -> None:
        super().__init__(error if detail is None else f"{error}: {detail}")
        self.error = error
        self.detail = detail


@dataclass
class User:
    """A workspace member as users.info describes them."""

    id: str
    name: str
    team_id: str
    is_admin: bool = False
    is_owner: bool = False
    tz: str = "UTC"
    real_name: str | None = None
    is_bot: bool = False

    def to_api(self) -> JSONDict:
        real = self.real_name or self.name
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "deleted": False,
            "real_name": real,
            "tz": self.tz,
            "tz_offset": _tz_offset(self.tz),
            "is_admin": self.is_admin,
            "is_owner": self.is_owner,
            "is_bot": self.is_bot,
            "profile": {
                "display_name": self.name,
                "display_name_normalized": self.name,
                "real_name": real,
                "real_name_normalized": real,
            },
        }


def _tz_offset(tz: str) -> int:
    try:
        offset = datetime.now(ZoneInfo(tz)).utcoffset()
    except (ZoneInfoNotFoundError, ValueError):
        return 0
    return int(offset.total_seconds()) if offset is not None else 0


@dataclass
class Channel:
    """A conversation: public or private channel, or an IM ("D...") with one user."""

    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    user: str | None = None
    is_member: bool = True
    is_archived: bool = False
    # People in a private channel (who may see its files); an IM's person is `user`.
    members: set[str] = field(default_factory=set)
    created: int = field(default_factory=lambda: int(time.time()))
    messages: list[JSONDict] = field(default_factory=list)

    def to_api(self) -> JSONDict:
        if self.is_im:
            return {
                "id": self.id,
                "created": self.created,
                "is_im": True,
                "is_open": True,
                "user": self.user,
                "is_archived": False,
            }
        return {
            "id": self.id,
            "name": self.name,
            "created": self.created,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
            "is_general": self.name == "general",
            "is_member": self.is_member,
        }


@dataclass
class StoredFile:
    """A file the workspace holds: shared by a person (host_file) or uploaded by the bot."""

    id: str
    name: str
    title: str
    mimetype: str
    filetype: str
    data: builtins.bytes
    user: str
    created: int = field(default_factory=lambda: int(time.time()))
    # Where the file was shared: channel id -> the ts of each message carrying it.
    shares: dict[str, list[str]] = field(default_factory=dict)

    def path(self, team_id: str, *, download: bool = False) -> str:
        middle = "/download" if download else ""
        return f"/files-pri/{team_id}-{self.id}{middle}/{quote(self.name, safe='')}"

    @property
    def is_image(self) -> bool:
        # The Slack file object (Block Kit composition objects): png, jpg, jpeg and gif only.
        return self.filetype in ("png", "jpg", "jpeg", "gif")

    def to_api(self, base_url: str, team_id: str) -> JSONDict:
        return {
            "id": self.id,
            "created": self.created,
            "timestamp": self.created,
            "name": self.name,
            "title": self.title,
            "mimetype": self.mimetype,
            "filetype": self.filetype,
            "pretty_type": self.filetype.upper(),
            "user": self.user,
            "user_team": team_id,
            "editable": False,
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": False,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "size": len(self.data),
            "url_private": base_url + self.path(team_id),
            "url_private_download": base_url + self.path(team_id, download=True),
            "media_display_type": "unknown",
            "permalink": f"{base_url}/files/{self.user}/{self.id}/{quote(self.name, safe='')}",
            "permalink_public": f"https://slack-files.com/{team_id}-{self.id}-{self.id[-6:].lower()}",
            "has_rich_preview": False,
        }


@dataclass
class Upload:
    """One files_upload_v2 file: announced, bytes received, then completed (shared)."""

    file_id: str
    filename: str
    length: int
    alt_txt: str | None = None
    snippet_type: str | None = None
    title: str | None = None
    data: builtins.bytes = b""
    uploaded: bool = False
    completed: bool = False
    channel_id: str | None = None
    thread_ts: str | None = None
    attempts: int = 0
    seconds: float = 0.0  # spent receiving the bytes

    @property
    def bytes(self) -> builtins.bytes:
        return self.data


@dataclass(frozen=True)
class Call:
    """One HTTP request to /api/{method}, with the outcome the stand-in gave."""

    method: str
    args: JSONDict
    time: float
    token: str | None
    status: int = 200
    error: str | None = None
    # Seconds the stand-in took to answer (for benchmarks that subtract Slack's own time).
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None


@dataclass(frozen=True)
class ResponsePost:
    """One POST to a minted response_url; ``key`` is the capability part of the URL."""

    key: str
    body: JSONDict | None
    time: float
    authorization: str | None = None
    status: int = 200

    @property
    def token(self) -> str:
        return self.key


@dataclass(frozen=True)
class ViewCall:
    """One accepted views.open / views.publish / views.update, with the decoded view."""

    method: str
    view_id: str
    view: JSONDict
    user_id: str | None = None
    trigger_id: str | None = None
    time: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Download:
    """One GET of a private file URL; ``granted`` tells if the bytes were served."""

    file_id: str
    token: str | None
    granted: bool
    time: float = field(default_factory=time.monotonic)
    hop: str = "file"  # "file" (url_private*), or "cdn" (where Slack redirects it)


@dataclass
class Fault:
    """An injected failure for one API method (or the raw upload URL)."""

    target: str
    kind: str  # "error" | "ratelimit" | "server" | "stall"
    remaining: int | None
    error: str = "internal_error"
    status: int = 500
    retry_after: int = 1
    delay: float = 0.0
    # A server error after the call was carried out ("some aspect of the operation succeeded").
    landed: bool = False

    def consume(self) -> bool:
        """Use the fault once; False when it is exhausted."""
        if self.remaining is None:
            return True
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


class TsClock:
    """Unique, increasing Slack timestamps ("seconds.micros"), close to the wall clock."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            self._last = max(int(time.time() * 1_000_000), self._last + 100)
            micros = self._last
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


class IdMint:
    """Slack-looking ids: a prefix letter and upper-case hex digits."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def next(self, prefix: str) -> str:
        return f"{prefix}0{next(self._counter):09X}"


def decode_json_args(args: JSONDict) -> JSONDict:
    """Decode JSON-string arguments (blocks, files, metadata, view, attachments, outputs)."""
    out = dict(args)
    for key in JSON_STRING_ARGS:
        value = out.get(key)
        if isinstance(value, str) and value.strip():
            try:
                out[key] = json.loads(value)
            except json.JSONDecodeError:
                continue
    return out


def flag(args: JSONDict, key: str) -> bool:
    value = args.get(key)
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true")


def int_arg(args: JSONDict, key: str, default: int) -> int:
    value = args.get(key)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SlackError("invalid_arguments") from None


def require(args: JSONDict, key: str, error: str = "invalid_arguments") -> str:
    value = str_arg(args, key)
    if not value:
        raise SlackError(error)
    return value


def str_arg(args: JSONDict, key: str) -> str:
    value = args.get(key)
    return "" if value is None else str(value)


def paginate(
    items: list[JSONDict], args: JSONDict, default_limit: int
) -> tuple[list[JSONDict], JSONDict]:
    """Cut one page by ``limit``/``cursor``; returns the page and has_more/response_metadata."""
    start = _decode_cursor(str_arg(args, "cursor"))
    limit = int_arg(args, "limit", default_limit)
    if limit <= 0:
        limit = default_limit
    page = items[start : start + limit]
    more = start + limit < len(items)
    cursor = _encode_cursor(start + limit) if more else ""
    return page, {"has_more": more, "response_metadata": {"next_cursor": cursor}}


def _encode_cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    if not cursor:
        return 0
    try:
        kind, _, value = base64.b64decode(cursor, validate=True).decode().partition(":")
        if kind == "offset" and value.isdigit():
            return int(value)
    except (binascii.Error, UnicodeDecodeError):
        pass
    raise SlackError("invalid_cursor")


def guess_types(filename: str) -> tuple[str, str]:
    """(mimetype, Slack filetype) from a file name."""
    mimetype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    filetype = {"jpeg": "jpg", "": "binary"}.get(ext, ext)
    return mimetype, filetype

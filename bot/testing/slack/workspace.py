"""Workspace state (users, channels, messages, files, views) of the loopback Slack stand-in."""

from __future__ import annotations

import copy
import secrets
import time
from dataclasses import dataclass
from typing import Any

from bot.testing.slack.blocks import FileRule
from bot.testing.slack.models import (
    Channel,
    IdMint,
    JSONDict,
    SlackError,
    StoredFile,
    TsClock,
    Upload,
    User,
    ViewCall,
    guess_types,
)


@dataclass(frozen=True)
class PendingShare:
    """A completed upload's message, posted only after a moment: Slack shares a completed
    upload asynchronously (`shares` is empty at first: python-slack-sdk#1277, #1521)."""

    channel_id: str
    message: JSONDict
    thread_ts: str | None
    clearing: int = 0  # the workspace's clearing it belongs to (a reset drops it)


class Workspace:
    """Everything the stand-in knows. Not locked itself: SlackStandIn holds the lock."""

    def __init__(self, *, team_id: str, bot_user_id: str, bot_id: str) -> None:
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = "A0APP"
        self.base_url = ""
        self.clock = TsClock()
        self.ids = IdMint()
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.clearings = 0
        self.clear()

    def clear(self) -> None:
        """Forget messages, files, uploads, views, triggers; keep users and channels."""
        self.clearings += 1
        for channel in self.channels.values():
            channel.messages.clear()
        self.files: dict[str, StoredFile] = {}
        self.uploads: dict[str, Upload] = {}
        self.views: list[ViewCall] = []
        self.open_views: dict[str, JSONDict] = {}
        self.ephemerals: list[JSONDict] = []
        self.triggers: dict[str, float | None] = {}
        self.used_triggers: set[str] = set()
        self.pending_shares: list[PendingShare] = []
        # Seconds added to the clock of expiring things (triggers), so tests need not wait.
        self.clock_offset = 0.0

    def now(self) -> float:
        return time.monotonic() + self.clock_offset

    # ----- users and channels

    def user(self, user_id: str) -> User:
        found = self.users.get(user_id)
        if found is None:
            raise SlackError("user_not_found")
        return found

    def channel(self, channel_id: str) -> Channel:
        """A channel the bot can see (a private channel it is not in is invisible, as on Slack)."""
        found = self.channels.get(channel_id)
        if found is None or (found.is_private and not found.is_member):
            raise SlackError("channel_not_found")
        return found

    def postable(self, channel_id: str) -> Channel:
        channel = self.channel(channel_id)
        if channel.is_archived:
            raise SlackError("is_archived")
        if not channel.is_member:
            raise SlackError("not_in_channel")
        return channel

    def open_im(self, user_id: str) -> tuple[Channel, bool]:
        for channel in self.channels.values():
            if channel.is_im and channel.user == user_id:
                return channel, True
        channel = Channel(id=self.ids.next("D"), name=user_id, is_im=True, user=user_id)
        self.channels[channel.id] = channel
        return channel, False

    # ----- messages

    def find(self, channel: Channel, ts: str) -> JSONDict | None:
        return next((m for m in channel.messages if m["ts"] == ts), None)

    def thread_parent(self, channel: Channel, thread_ts: str) -> JSONDict:
        """The parent of the thread ``thread_ts`` names (a reply's ts names its thread)."""
        message = self.find(channel, thread_ts)
        if message is None:
            raise SlackError("invalid_thread_ts")
        parent_ts = str(message.get("thread_ts", message["ts"]))
        parent = self.find(channel, parent_ts)
        return parent if parent is not None else message

    def post(self, channel: Channel, message: JSONDict, thread_ts: str | None = None) -> JSONDict:
        """Store ``message`` (given a fresh ts) at the top level or as a reply in a thread."""
        parent = self.thread_parent(channel, thread_ts) if thread_ts else None
        stored: JSONDict = {"type": "message", "ts": self.clock.next(), "team": self.team_id}
        stored.update({k: v for k, v in message.items() if v is not None})
        if parent is not None:
            stored["thread_ts"] = parent["ts"]
            stored["parent_user_id"] = parent.get("user")
            self._count_reply(parent, stored)
        channel.messages.append(stored)
        for item in stored.get("files") or []:
            shared = self.files.get(str(item.get("id")))
            if shared is not None:
                shared.shares.setdefault(channel.id, []).append(stored["ts"])
        return stored

    def share_later(self, channel_id: str, message: JSONDict, thread_ts: str | None) -> None:
        self.pending_shares.append(PendingShare(channel_id, message, thread_ts, self.clearings))

    def complete_share(self, pending: PendingShare) -> None:
        """Post a pending share's message (its channel or thread may be gone by now)."""
        channel = self.channels.get(pending.channel_id)
        if channel is None:
            return
        try:
            self.post(channel, pending.message, pending.thread_ts)
        except SlackError:
            return

    def bot_message(self, **fields: Any) -> JSONDict:
        return {"user": self.bot_user_id, "bot_id": self.bot_id, "app_id": self.app_id, **fields}

    @staticmethod
    def _count_reply(parent: JSONDict, reply: JSONDict) -> None:
        parent["thread_ts"] = parent["ts"]
        parent["reply_count"] = parent.get("reply_count", 0) + 1
        users = parent.setdefault("reply_users", [])
        if reply.get("user") and reply["user"] not in users:
            users.append(reply["user"])
        parent["reply_users_count"] = len(users)
        parent["latest_reply"] = reply["ts"]

    def thread(self, channel: Channel, ts: str) -> list[JSONDict]:
        message = self.find(channel, ts)
        if message is None:
            raise SlackError("thread_not_found")
        root = message.get("thread_ts", message["ts"])
        return [m for m in channel.messages if m["ts"] == root or m.get("thread_ts") == root]

    @staticmethod
    def top_level(channel: Channel) -> list[JSONDict]:
        return [m for m in channel.messages if m.get("thread_ts", m["ts"]) == m["ts"]]

    @staticmethod
    def render(message: JSONDict, *, with_metadata: bool) -> JSONDict:
        """A deep copy as an API answer shows it (metadata only when asked for)."""
        out = copy.deepcopy(message)
        if not with_metadata:
            out.pop("metadata", None)
        return out

    # ----- files

    def store_file(
        self,
        data: bytes,
        *,
        name: str,
        user: str,
        title: str | None = None,
        mimetype: str | None = None,
        filetype: str | None = None,
        file_id: str | None = None,
    ) -> StoredFile:
        guessed_mime, guessed_type = guess_types(name)
        stored = StoredFile(
            id=file_id or self.ids.next("F"),
            name=name,
            title=title or name,
            mimetype=mimetype or guessed_mime,
            filetype=filetype or guessed_type,
            data=bytes(data),
            user=user,
        )
        self.files[stored.id] = stored
        return stored

    def file_object(self, stored: StoredFile) -> JSONDict:
        """The file as files.info shows it, with where it is shared (files.info reference:
        `shares` split public/private, plus `channels`, `groups` and `ims`)."""
        api = stored.to_api(self.base_url, self.team_id)
        shares: dict[str, JSONDict] = {"public": {}, "private": {}}
        lists: dict[str, list[str]] = {"channels": [], "groups": [], "ims": []}
        for channel_id, stamps in stored.shares.items():
            channel = self.channels.get(channel_id)
            if channel is None:
                continue
            public = not (channel.is_private or channel.is_im)
            shares["public" if public else "private"][channel_id] = [
                {"ts": ts, "channel_name": channel.name, "team_id": self.team_id} for ts in stamps
            ]
            kind = "channels" if public else ("ims" if channel.is_im else "groups")
            lists[kind].append(channel_id)
        api["shares"] = {kind: found for kind, found in shares.items() if found}
        return {**api, **lists}

    def file_by_url(self, url: str) -> StoredFile | None:
        for stored in self.files.values():
            api = stored.to_api(self.base_url, self.team_id)
            if url in (api["url_private"], api["permalink"]):
                return stored
        return None

    def file_visible(self, stored: StoredFile, *, user: str | None, channel: str | None) -> bool:
        """Whether a file is shared where `user` (or everyone in `channel`) can see it."""
        for channel_id in stored.shares:
            shared = self.channels.get(channel_id)
            if shared is None:
                continue
            if channel_id == channel or not (shared.is_private or shared.is_im):
                return True
            if user is not None and user in ({shared.user} if shared.is_im else shared.members):
                return True
        return False

    def file_by_path(self, team_file: str) -> StoredFile | None:
        team, _, file_id = team_file.partition("-")
        return self.files.get(file_id) if team == self.team_id else None

    # ----- triggers

    def mint_trigger(self, ttl: float | None) -> str:
        trigger = f"{int(time.time())}.{self.ids.next('1')[2:]}.{secrets.token_hex(10)}"
        self.triggers[trigger] = None if ttl is None else self.now() + ttl
        return trigger

    def use_trigger(self, trigger: str) -> None:
        if not trigger or trigger not in self.triggers:
            raise SlackError("invalid_trigger_id")
        expires = self.triggers[trigger]
        expired = expires is not None and self.now() > expires
        if trigger in self.used_triggers or expired:
            raise SlackError("expired_trigger_id")
        self.used_triggers.add(trigger)

    def file_rule(self, *, user: str | None, channel: str | None) -> FileRule:
        """Why Slack would refuse an image's `slack_file` (Slack file object reference: an image
        file given by exactly one of id or url, which the viewer can access); a file uploaded
        without being shared anywhere is refused ("invalid slack file": python-slack-sdk#1658)."""

        def rule(ref: object) -> str | None:
            if not isinstance(ref, dict) or ("id" in ref) == ("url" in ref):
                return "slack_file takes one of id and url"
            ref_id, url = ref.get("id"), ref.get("url")
            stored = self.files.get(str(ref_id)) if ref_id else self.file_by_url(str(url))
            if stored is None or not stored.is_image:
                return "invalid slack file"
            if not self.file_visible(stored, user=user, channel=channel):
                return "invalid slack file"
            return None

        return rule

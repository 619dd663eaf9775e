"""Setting up the stand-in's workspace (channels, people, their files and messages) and reading
what it holds, each under the stand-in's lock. A mixin of SlackStandIn."""

from __future__ import annotations

import copy
import threading

from bot.testing.slack.models import Channel, JSONDict, SlackError, User
from bot.testing.slack.workspace import Workspace


class WorkspaceSetup:
    _lock: threading.Lock
    _ws: Workspace

    @property
    def team_id(self) -> str:
        return self._ws.team_id

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        is_private: bool = False,
        is_im: bool = False,
        user: str | None = None,
        bot_is_member: bool = True,
    ) -> Channel:
        channel = Channel(channel_id, name, is_private, is_im, user, is_member=bot_is_member)
        with self._lock:
            self._ws.channels[channel_id] = channel
        return channel

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        is_admin: bool = False,
        is_owner: bool = False,
        tz: str = "UTC",
        real_name: str | None = None,
    ) -> User:
        user = User(user_id, name, self.team_id, is_admin, is_owner, tz, real_name)
        with self._lock:
            self._ws.users[user_id] = user
        return user

    def archive_channel(self, channel_id: str) -> None:
        with self._lock:
            self._ws.channels[channel_id].is_archived = True

    def set_bot_member(self, channel_id: str, is_member: bool) -> None:
        """Invite the bot (``/invite``) or remove it from a channel."""
        with self._lock:
            self._ws.channels[channel_id].is_member = is_member

    def host_file(
        self,
        data: bytes,
        *,
        name: str,
        mimetype: str,
        filetype: str | None = None,
        user: str = "U0ALICE",
        title: str | None = None,
    ) -> JSONDict:
        """Register a file a person shared; returns its Slack file object for message events."""
        with self._lock:
            stored = self._ws.store_file(
                data, name=name, user=user, title=title, mimetype=mimetype, filetype=filetype
            )
            return self._ws.file_object(stored)

    def add_message(
        self,
        channel: str,
        text: str = "",
        *,
        user: str = "U0ALICE",
        thread_ts: str | None = None,
        files: list[JSONDict] | None = None,
        blocks: list[JSONDict] | None = None,
        metadata: JSONDict | None = None,
    ) -> JSONDict:
        """Store a message a person posted (so the history/replies APIs see it); returns it."""
        message: JSONDict = {"user": user, "text": text, "blocks": blocks, "metadata": metadata}
        if files:
            message.update(files=copy.deepcopy(files), upload=True)
        with self._lock:
            stored = self._ws.post(self._ws.channels[channel], message, thread_ts)
            return copy.deepcopy(stored)

    def messages(self, channel: str) -> list[JSONDict]:
        """All stored messages of a channel (top level and replies), oldest first."""
        with self._lock:
            return copy.deepcopy(self._ws.channels[channel].messages)

    def thread(self, channel: str, ts: str) -> list[JSONDict]:
        """The parent message and its replies, oldest first; empty when ``ts`` is unknown."""
        with self._lock:
            try:
                return copy.deepcopy(self._ws.thread(self._ws.channels[channel], ts))
            except SlackError:
                return []

    def im_with(self, user: str) -> str:
        """The id of the bot's DM with `user` (opened if need be)."""
        with self._lock:
            return self._ws.open_im(user)[0].id

    def channel(self, channel_id: str) -> Channel:
        with self._lock:
            return copy.deepcopy(self._ws.channels[channel_id])

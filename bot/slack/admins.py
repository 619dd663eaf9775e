"""Who is an admin: the ids in IMAGEBOT_ADMINS, and optionally the workspace's admins and owners."""

from __future__ import annotations

import logging
import time

from bot.config import Settings
from bot.slack.client import SlackError, SlackOut

log = logging.getLogger(__name__)
_CACHE_SECONDS = 600.0


class Admins:
    def __init__(self, settings: Settings, slack: SlackOut) -> None:
        self.settings = settings
        self.slack = slack
        self._cache: dict[str, tuple[float, bool]] = {}

    async def is_admin(self, user_id: str) -> bool:
        if user_id in self.settings.admins:
            return True
        if not self.settings.workspace_admins_are_admins:
            return False
        cached = self._cache.get(user_id)
        if cached is not None and time.monotonic() - cached[0] < _CACHE_SECONDS:
            return cached[1]
        try:
            info = await self.slack.user_info(user_id)
        except SlackError as exc:
            log.warning("users.info failed for %s: %s", user_id, exc.code)
            return False
        verdict = bool(info.get("is_admin") or info.get("is_owner"))
        self._cache[user_id] = (time.monotonic(), verdict)
        return verdict

    async def ids(self) -> list[str]:
        """The admins to notify (the configured ones; workspace admins are not enumerated)."""
        return sorted(self.settings.admins)

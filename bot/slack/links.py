"""Links to messages: Slack's archive link of a thread's first message,
`https://<workspace>.slack.com/archives/<channel>/p<ts without its dot>` (the shape
chat.getPermalink answers with, docs.slack.dev/reference/methods/chat.getPermalink), built from
the workspace address auth.test gives, asked once."""

from __future__ import annotations

import logging

from bot.slack.client import SlackOut
from bot.slack.errors import SlackError
from bot.store import Job

log = logging.getLogger(__name__)


class ThreadLinks:
    def __init__(self, slack: SlackOut) -> None:
        self.slack = slack
        self._base: str | None = None

    async def base(self) -> str | None:
        """The workspace's address ending in `/`, or None when Slack would not say."""
        if self._base is None:
            try:
                url = str((await self.slack.auth_test()).get("url") or "")
            except SlackError as exc:
                log.info("no workspace address for links: %s", exc.code)
                return None
            self._base = url if url.endswith("/") else f"{url}/" if url else None
        return self._base

    async def maker(self) -> LinkMaker:
        return LinkMaker(await self.base())


class LinkMaker:
    """Makes thread links once the workspace's address is known (none without it)."""

    def __init__(self, base: str | None) -> None:
        self.base = base

    def thread(self, channel_id: str, ts: str | None) -> str | None:
        if self.base is None or not ts or not channel_id:
            return None
        return f"{self.base}archives/{channel_id}/p{ts.replace('.', '')}"

    def of(self, job: Job) -> str | None:
        """The link of a job's thread (its card, or the message it answers)."""
        return self.thread(job.channel_id, job.thread_ts)

"""The one way the bot tells a person something outside their card: privately, and once.

Privately: through the response_url of the command or button the person used (Slack takes 5
answers within 30 minutes), else as an ephemeral message in the conversation (in the thread
when there is one), else in a DM. Never as a post others can read: an answer may quote what a
person typed, name a file they shared, or show what they spent.

Once: an answer to something Slack may deliver again (an event, a job resumed after a restart)
carries a key, and only the first `tell` with that key says anything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.slack.blockkit import Block
from bot.slack.client import SlackOut
from bot.slack.errors import SlackError
from bot.store import Store

log = logging.getLogger(__name__)

# A key is remembered this long; Slack retries a delivery within minutes.
ONCE_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Requester:
    """Who asked, where (a channel, or "" when only a DM will do), and how to answer them
    privately."""

    user_id: str
    channel_id: str = ""
    team_id: str = ""
    response_url: str | None = None


class Notifier:
    def __init__(self, slack: SlackOut, store: Store) -> None:
        self.slack = slack
        self.store = store

    async def tell(
        self,
        who: Requester,
        text: str,
        blocks: list[Block] | None = None,
        *,
        thread_ts: str | None = None,
        once: str | None = None,
    ) -> bool:
        """Tell `who` privately: response_url, else ephemeral in their channel (if they have
        one), else a DM. With `once`, only the first time that key is told. False when it said
        nothing (told before, or Slack refused every way)."""
        if once is not None and not await self.store.claim(once, ONCE_SECONDS):
            return False
        if who.response_url and await self.slack.respond(who.response_url, text, blocks):
            return True
        if who.channel_id:
            try:
                await self.slack.ephemeral(who.channel_id, who.user_id, text, thread_ts, blocks)
                return True
            except SlackError as exc:
                log.info("ephemeral to %s failed (%s); sending a DM", who.user_id, exc.code)
        try:
            await self.slack.dm(who.user_id, text, blocks)
        except SlackError as exc:
            log.warning("could not tell %s: %s", who.user_id, exc.code)
            return False
        return True

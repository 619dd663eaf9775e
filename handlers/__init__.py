"""Everything imagebot answers in Slack, one module per concern.

- commands: `/image`, `/image-usage`, `/image-admin`
- messages: thread replies, mentions and DMs (events `message`, `app_mention`)
- actions: the buttons on cards, the Edit dialog, the "Edit image" message shortcut
- home: the App Home tab (`app_home_opened`)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt.async_app import AsyncApp

from handlers import actions, commands, home, messages
from handlers.registrar import Registered, Registrar

if TYPE_CHECKING:
    from bot.app import Services


def register(app: AsyncApp, services: Services) -> Registered:
    on = Registrar(app, services.inflight)
    commands.register(on, services)
    messages.register(on, services)
    actions.register(on, services)
    home.register(on, services)
    return on.registered

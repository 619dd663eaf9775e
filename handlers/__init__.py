"""Everything imagebot answers in Slack, one module per concern.

- commands: `/image`, `/image-usage`, `/image-admin`
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt.async_app import AsyncApp

from handlers import commands
from handlers.registrar import Registered, Registrar

if TYPE_CHECKING:
    from bot.app import Services


def register(app: AsyncApp, services: Services) -> Registered:
    on = Registrar(app)
    commands.register(on, services)
    return on.registered

"""The App Home tab."""

from __future__ import annotations

from typing import Any

from bot.money.home import Home
from handlers.registrar import Registrar


def register(on: Registrar, home: Home) -> None:
    async def opened(event: dict[str, Any]) -> None:
        if event.get("tab") == "home" and event.get("user"):
            await home.publish(str(event["user"]))

    on.event("app_home_opened", opened)

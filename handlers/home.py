"""The App Home tab."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from handlers.registrar import Registrar

if TYPE_CHECKING:
    from bot.app import Services


def register(on: Registrar, services: Services) -> None:
    async def opened(event: dict[str, Any]) -> None:
        if event.get("tab") == "home" and event.get("user"):
            await services.home.publish(str(event["user"]))

    on.event("app_home_opened", opened)

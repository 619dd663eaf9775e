"""Registers listeners on the Bolt app, remembering what was registered (for the manifest check)."""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.async_app import AsyncApp

from handlers.inflight import InFlight

Listener = Callable[..., Awaitable[Any]]


@dataclass
class Registered:
    commands: set[str] = field(default_factory=set)
    shortcuts: set[str] = field(default_factory=set)
    events: set[str] = field(default_factory=set)
    actions: set[str] = field(default_factory=set)
    views: set[str] = field(default_factory=set)
    functions: set[str] = field(default_factory=set)


class Registrar:
    """Every listener runs inside `inflight`, so a stopping bot can let it finish."""

    def __init__(self, app: AsyncApp, inflight: InFlight) -> None:
        self.app = app
        self.inflight = inflight
        self.registered = Registered()

    def _tracked(self, listener: Listener) -> Listener:
        # functools.wraps keeps the signature Bolt reads to pass arguments by name.
        @functools.wraps(listener)
        async def run(*args: Any, **kwargs: Any) -> Any:
            async with self.inflight:
                return await listener(*args, **kwargs)

        return run

    def command(self, name: str, listener: Listener) -> None:
        self.registered.commands.add(name)
        self.app.command(name)(self._tracked(listener))

    def shortcut(self, callback_id: str, listener: Listener) -> None:
        self.registered.shortcuts.add(callback_id)
        self.app.shortcut(callback_id)(self._tracked(listener))

    def event(self, event_type: str, listener: Listener) -> None:
        self.registered.events.add(event_type)
        self.app.event(event_type)(self._tracked(listener))

    def action(self, action_id: str | re.Pattern[str], listener: Listener) -> None:
        """One action id, or a pattern for a family of them (one per image of a result)."""
        self.registered.actions.add(action_id if isinstance(action_id, str) else action_id.pattern)
        self.app.action(action_id)(self._tracked(listener))

    def function(self, callback_id: str, listener: Listener) -> None:
        """A custom step for Workflow Builder: Slack sends its runs as `function_executed`
        events (Bolt acknowledges them at once)."""
        self.registered.functions.add(callback_id)
        self.registered.events.add("function_executed")
        self.app.function(callback_id)(self._tracked(listener))

    def view(self, callback_id: str, listener: Listener) -> None:
        self.registered.views.add(callback_id)
        self.app.view(callback_id)(self._tracked(listener))

"""Everything imagebot answers in Slack, one module per concern; each listener gets the few
services it uses, and every Slack payload is read in handlers/payloads.py.

- commands: `/image` (with `models`, `styles`, `history`, `details`), `/image-usage`,
  `/image-admin`
- messages: thread replies, mentions and DMs (events `message`, `app_mention`)
- actions: the buttons on cards (Details too) and under each image, the Edit dialog, the
  "Edit image" message shortcut, App Home's model and style menus and the New image dialog
- home: the App Home tab (`app_home_opened`)
- functions: the Workflow Builder step "Generate an image" (`function_executed`)
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.domain.request import Quality
from bot.money.admin import AdminCommand
from bot.money.home import Home
from bot.money.spend import Spend
from bot.requests.controls import Controls
from bot.requests.conversation import Conversation
from bot.requests.details import Details
from bot.requests.history import History
from bot.requests.image_actions import ImageActions
from bot.requests.intake import Intake
from bot.requests.workflow import WorkflowStep
from bot.slack.notifier import Notifier
from handlers import actions, commands, functions, home, messages
from handlers.inflight import InFlight
from handlers.registrar import Registered, Registrar

__all__ = ["Registered", "register"]


def register(
    app: AsyncApp,
    *,
    inflight: InFlight,
    default_quality: Quality,
    intake: Intake,
    conversation: Conversation,
    controls: Controls,
    image_actions: ImageActions,
    spend: Spend,
    admin: AdminCommand,
    app_home: Home,
    notifier: Notifier,
    workflow: WorkflowStep,
    details: Details,
    history: History,
) -> Registered:
    on = Registrar(app, inflight)
    commands.register(on, intake, spend, admin, notifier, default_quality, details, history)
    messages.register(on, conversation)
    actions.register(on, controls, image_actions, details)
    home.register(on, app_home)
    functions.register(on, workflow)
    return on.registered

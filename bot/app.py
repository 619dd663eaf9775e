"""The one place that wires the layers: settings -> store, provider, Slack client -> runner ->
intake, conversations, controls, money -> the Bolt app with the handlers registered on the few
services each uses."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

import aiohttp
import httpx
from slack_bolt.async_app import AsyncApp

import handlers
from bot.config import ConfigError, Settings
from bot.domain.clock import Clock, system_clock
from bot.jobs.inputs import InputResolver
from bot.jobs.maintenance import Maintenance
from bot.jobs.runner import Runner, RunnerConfig, RunnerHooks
from bot.money.admin import AdminCommand
from bot.money.budgets import Budgets
from bot.money.home import Home
from bot.money.notices import Notices
from bot.money.reconcile import DailyCheck, Reconciler
from bot.money.spend import Spend
from bot.providers.base import ImageProvider
from bot.providers.catalog import model_catalog
from bot.providers.fal.platform import FalPlatform
from bot.providers.fal.queue import FalProvider
from bot.providers.fal.webhook import FalKeys, WebhookVerifier
from bot.requests.controls import Controls
from bot.requests.conversation import Conversation
from bot.requests.details import Details
from bot.requests.history import History
from bot.requests.image_actions import ImageActions
from bot.requests.intake import Intake
from bot.requests.workflow import WorkflowStep
from bot.slack.admins import Admins
from bot.slack.client import SlackError, SlackOut, make_client
from bot.slack.links import ThreadLinks
from bot.slack.notifier import Notifier
from bot.store import Store, StoreError
from handlers.inflight import InFlight

log = logging.getLogger(__name__)
# /healthz asks Slack at most this often whether the bot token still works.
SLACK_HEALTH_SECONDS = 30.0


@dataclass
class Services:
    settings: Settings
    store: Store
    provider: ImageProvider
    slack: SlackOut
    notifier: Notifier
    runner: Runner
    intake: Intake
    conversation: Conversation
    controls: Controls
    image_actions: ImageActions
    workflow: WorkflowStep
    admins: Admins
    budgets: Budgets
    spend: Spend
    admin: AdminCommand
    home: Home
    maintenance: Maintenance
    details: Details
    history: History
    inflight: InFlight = field(default_factory=InFlight)
    # fal's webhooks, when jobs are submitted with one (IMAGEBOT_PUBLIC_URL, HTTP mode).
    webhooks: WebhookVerifier | None = None
    ready: bool = False
    _slack_checked: tuple[float, bool] | None = field(default=None, init=False, repr=False)

    def now(self) -> datetime:
        """The one clock every service reads."""
        return self.store.clock()

    def slack_seen(self, ok: bool) -> None:
        self._slack_checked = (time.monotonic(), ok)

    async def healthy(self) -> dict[str, bool]:
        try:
            database = await asyncio.wait_for(self.store.ping(), 5)
        except Exception:
            database = False
        runner = self.runner.healthy() and self.maintenance.healthy()
        slack = await self._slack_reachable()
        return {"ready": self.ready, "database": database, "runner": runner, "slack": slack}

    async def _slack_reachable(self) -> bool:
        """Whether Slack answered auth.test with this token lately (asked again when stale)."""
        checked = self._slack_checked
        if checked is not None and time.monotonic() - checked[0] < SLACK_HEALTH_SECONDS:
            return checked[1]
        try:
            await asyncio.wait_for(self.slack.auth_test(), 5)
        except (SlackError, TimeoutError) as exc:
            log.warning("health: Slack's auth.test failed: %s", getattr(exc, "code", "timeout"))
            self.slack_seen(False)
        else:
            self.slack_seen(True)
        return bool(self._slack_checked and self._slack_checked[1])

    async def close(self, jobs_grace: float = 5.0) -> None:
        await self.maintenance.stop()
        await self.runner.stop(grace=jobs_grace)
        await self.provider.close()
        if self.webhooks is not None:
            await self.webhooks.close()
        await self.slack.close()
        await self.store.close()


def make_provider(
    settings: Settings, clock: Clock = system_clock, *, socket_mode: bool = False
) -> ImageProvider:
    """The image provider; fal is asked for webhooks when IMAGEBOT_PUBLIC_URL is set, except
    in Socket Mode, where no HTTP server listens for them."""
    catalog = model_catalog(settings)
    if settings.provider == "mock":
        from bot.providers.mock import MockProvider

        return MockProvider(catalog, delay=settings.mock_delay_seconds, clock=clock)
    if settings.fal_key is None or not settings.fal_key.get_secret_value():
        raise ConfigError(
            "FAL_KEY is not set: your fal API key, or set IMAGEBOT_PROVIDER=mock to try without fal"
        )
    key = settings.fal_key.get_secret_value()
    platform = FalPlatform(settings.fal_api_url, settings.fal_platform_key() or key, clock=clock)
    webhook_url = None if socket_mode else settings.fal_webhook_url
    return FalProvider(key, catalog, platform=platform, clock=clock, webhook_url=webhook_url)


async def open_services(
    settings: Settings, *, provider: ImageProvider | None = None, clock: Clock = system_clock
) -> Services:
    """Every service on one clock (`clock` dates jobs, charges, months and notices). A database
    that cannot be opened is a ConfigError naming IMAGEBOT_DATABASE_URL."""
    provider = provider or make_provider(settings, clock)
    try:
        store = await Store.open(
            settings.database_target, clock=clock, lease_seconds=settings.lease_seconds
        )
    except StoreError as exc:
        await provider.close()
        raise ConfigError(f"IMAGEBOT_DATABASE_URL: {exc}") from None
    try:
        return _services(settings, provider, store)
    except BaseException:
        await store.close()
        await provider.close()
        raise


def _services(settings: Settings, provider: ImageProvider, store: Store) -> Services:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
    slack = SlackOut(make_client(token, settings.slack_api_url, session))
    config = RunnerConfig(
        max_at_fal=settings.max_jobs_at_fal,
        max_per_user=settings.max_jobs_per_user,
        deadline_seconds=settings.job_deadline_seconds,
        card_interval=settings.progress_interval_seconds,
        card_updates_per_minute=settings.card_updates_per_minute,
        spool=settings.spool_path,
        webhook_grace=settings.webhook_grace_seconds if _asks_webhooks(provider) else None,
    )
    max_bytes = settings.max_input_image_bytes
    notifier = Notifier(slack, store)
    admins = Admins(settings, slack)
    budgets = Budgets(settings, store)
    spend = Spend(settings, store, slack, budgets)
    notices = Notices(store, notifier, admins, spend, budgets)
    hooks = RunnerHooks(on_settled=notices.after_settle, on_locked=notices.account_locked)
    inputs = InputResolver(provider, slack, max_bytes)
    runner = Runner(store, provider, slack, notifier, config, inputs, hooks)
    intake = Intake(settings, budgets, runner, notifier, provider, store.clock)
    conversation = Conversation(settings, store, intake, notifier, slack)
    controls = Controls(settings, store, intake, conversation, runner, admins, notifier, slack)
    image_actions = ImageActions(store, intake, notifier, slack)
    workflow = WorkflowStep(store, intake, slack, settings.job_deadline_seconds)
    maintenance = Maintenance(settings, store, daily=daily_reconcile(settings, store, provider))
    admin = AdminCommand(store, slack, admins, spend, budgets)
    links = ThreadLinks(slack)
    home = Home(spend, budgets, admins, store, slack, intake.models.menu, links)
    details = Details(store, provider.catalog, notifier)
    history = History(store, provider.catalog, links, notifier, settings.zone)
    webhooks = fal_webhooks(settings, provider, store)
    return Services(
        settings, store, provider, slack, notifier, runner, intake, conversation, controls,
        image_actions, workflow, admins, budgets, spend, admin, home, maintenance, details,
        history, webhooks=webhooks,
    )  # fmt: skip


def _asks_webhooks(provider: ImageProvider) -> bool:
    return isinstance(provider, FalProvider) and provider.webhook_url is not None


def fal_webhooks(
    settings: Settings, provider: ImageProvider, store: Store
) -> WebhookVerifier | None:
    """The check of fal's webhooks, when fal is asked to send them; deliveries are remembered
    in the database that every replica shares."""
    if not _asks_webhooks(provider):
        return None
    keys = FalKeys(settings.fal_jwks_url, httpx.AsyncClient())
    return WebhookVerifier(keys, store.claim, store.clock)


def daily_reconcile(settings: Settings, store: Store, provider: ImageProvider) -> DailyCheck | None:
    """With FAL_ADMIN_KEY, fal's billing records are compared with the charges every day."""
    platform = provider.platform if isinstance(provider, FalProvider) else None
    if settings.fal_admin_key is None or platform is None:
        return None
    return DailyCheck(Reconciler(store, platform, provider.catalog), settings.zone)


def build_app(services: Services) -> AsyncApp:
    """The Bolt app with every listener of `handlers` registered."""
    secret = services.settings.slack_signing_secret
    bolt_log = logging.getLogger("slack_bolt")
    bolt_log.addFilter(_no_unused_token_warning)
    app = AsyncApp(
        client=services.slack.client,
        signing_secret=secret.get_secret_value() if secret else "",
        logger=bolt_log,
        # Listeners ack first and work after; nothing waits for a listener to finish.
        process_before_response=False,
        ignoring_self_events_enabled=True,
    )
    register_handlers(app, services)
    return app


def register_handlers(app: AsyncApp, services: Services) -> handlers.Registered:
    """Each listener gets only the services it uses."""
    return handlers.register(
        app,
        inflight=services.inflight,
        default_quality=services.settings.default_quality,
        intake=services.intake,
        conversation=services.conversation,
        controls=services.controls,
        image_actions=services.image_actions,
        spend=services.spend,
        admin=services.admin,
        app_home=services.home,
        notifier=services.notifier,
        workflow=services.workflow,
        details=services.details,
        history=services.history,
    )


def _no_unused_token_warning(record: logging.LogRecord) -> bool:
    """Bolt reads SLACK_BOT_TOKEN from the environment even when it is given a client, then
    warns that the token is unused (slack_bolt/app/async_app.py, `AsyncApp.__init__`); the
    client holds that same token, so the warning only misleads."""
    return "`token` will be unused" not in record.getMessage()

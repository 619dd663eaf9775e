"""Builds the services (store, provider, Slack client, runner, intake) and the Bolt app on them."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import aiohttp
from slack_bolt.async_app import AsyncApp

from bot.admins import Admins
from bot.config import ConfigError, Settings
from bot.controls import Controls
from bot.edits import Conversation
from bot.fal import FalProvider
from bot.fal_platform import FalPlatform
from bot.home import Home
from bot.inflight import InFlight
from bot.intake import Intake
from bot.jobs.inputs import InputResolver
from bot.jobs.runner import Runner, RunnerConfig, RunnerHooks
from bot.maintenance import Maintenance
from bot.pricing import PriceFileError, PriceTable, gpt_image_2_prices, load_price_file
from bot.profiles import gpt_image_2
from bot.provider import ImageProvider
from bot.reconcile import DailyCheck, Reconciler
from bot.slack import SlackOut, make_client
from bot.spend import Spend
from bot.store import Store

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: Store
    provider: ImageProvider
    slack: SlackOut
    runner: Runner
    intake: Intake
    conversation: Conversation
    controls: Controls
    admins: Admins
    spend: Spend
    home: Home
    maintenance: Maintenance
    inflight: InFlight = field(default_factory=InFlight)
    ready: bool = False

    async def healthy(self) -> dict[str, bool]:
        try:
            database = await asyncio.wait_for(self.store.ping(), 5)
        except Exception:
            database = False
        runner = self.runner.healthy() and self.maintenance.healthy()
        return {"ready": self.ready, "database": database, "runner": runner}

    async def close(self, jobs_grace: float = 5.0) -> None:
        await self.maintenance.stop()
        await self.runner.stop(grace=jobs_grace)
        await self.provider.close()
        await self.slack.close()
        await self.store.close()


def price_table(settings: Settings) -> PriceTable:
    table = gpt_image_2_prices()
    if settings.price_file is not None:
        try:
            table = load_price_file(settings.price_file, table)
        except PriceFileError as exc:
            raise ConfigError(f"IMAGEBOT_PRICE_FILE: {exc}") from None
    return table


def make_provider(settings: Settings) -> ImageProvider:
    prices = price_table(settings)
    if settings.provider == "mock":
        from bot.mock import MockProvider

        return MockProvider(prices, delay=settings.mock_delay_seconds)
    if settings.fal_key is None or not settings.fal_key.get_secret_value():
        raise ConfigError(
            "FAL_KEY is not set: your fal API key, or set IMAGEBOT_PROVIDER=mock to try without fal"
        )
    key = settings.fal_key.get_secret_value()
    platform = FalPlatform(settings.fal_api_url, settings.fal_platform_key() or key)
    return FalProvider(key, gpt_image_2(prices), platform=platform)


async def open_services(settings: Settings, *, provider: ImageProvider | None = None) -> Services:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    provider = provider or make_provider(settings)
    store = await Store.open(settings.database_path)
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
    slack = SlackOut(make_client(token, settings.slack_api_url, session))
    config = RunnerConfig(
        max_at_fal=settings.max_jobs_at_fal,
        max_per_user=settings.max_jobs_per_user,
        deadline_seconds=settings.job_deadline_seconds,
        card_interval=settings.progress_interval_seconds,
        card_updates_per_minute=settings.card_updates_per_minute,
        spool=settings.spool_path,
    )
    max_bytes = settings.max_input_image_bytes
    admins = Admins(settings, slack)
    spend = Spend(settings, store, slack, admins)
    hooks = RunnerHooks(on_settled=spend.after_settle, on_locked=spend.account_locked)
    inputs = InputResolver(provider, slack, max_bytes)
    runner = Runner(store, provider, slack, config, inputs, hooks)
    intake = Intake(settings, store, runner, slack, provider)
    conversation = Conversation(intake)
    controls = Controls(conversation, admins)
    maintenance = Maintenance(settings, store, daily=daily_reconcile(settings, store, provider))
    return Services(
        settings, store, provider, slack, runner, intake, conversation, controls, admins, spend,
        Home(spend), maintenance,
    )  # fmt: skip


def daily_reconcile(settings: Settings, store: Store, provider: ImageProvider) -> DailyCheck | None:
    """With FAL_ADMIN_KEY, fal's billing records are compared with the charges every day."""
    platform = provider.platform if isinstance(provider, FalProvider) else None
    if settings.fal_admin_key is None or platform is None:
        return None
    return DailyCheck(Reconciler(store, platform, provider.profile), settings.zone)


def build_app(services: Services) -> AsyncApp:
    """The Bolt app with every listener of `handlers` registered on the services."""
    import handlers

    secret = services.settings.slack_signing_secret
    app = AsyncApp(
        client=services.slack.client,
        signing_secret=secret.get_secret_value() if secret else "",
        logger=logging.getLogger("slack_bolt"),
        # Listeners ack first and work after; nothing waits for a listener to finish.
        process_before_response=False,
        ignoring_self_events_enabled=True,
    )
    handlers.register(app, services)
    return app

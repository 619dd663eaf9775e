"""The `imagebot` command: run the bot, print spend reports, or try it offline."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from bot.config import ConfigError, Settings, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"imagebot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imagebot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the bot (Socket Mode if SLACK_APP_TOKEN is set)")
    run.add_argument("--http", action="store_true", help="HTTP mode: Slack posts to /slack/events")
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    run.add_argument("--host", default="0.0.0.0")
    run.set_defaults(func=_run)
    return parser


def _export_fal_hosts(settings: Settings) -> None:
    """fal-client reads its host overrides from the process environment when imported; a
    `.env` file is only read by our settings, so hand them on before that import."""
    for name, value in (
        ("FAL_RUN_HOST", settings.fal_run_host),
        ("FAL_QUEUE_RUN_HOST", settings.fal_queue_run_host),
    ):
        if value and name not in os.environ:
            os.environ[name] = value


def _run(args: argparse.Namespace) -> int:
    settings = load_settings()
    settings.require("SLACK_BOT_TOKEN")
    settings.require_token_shapes()
    http = bool(args.http or settings.slack_app_token is None)
    if http:
        settings.require("SLACK_SIGNING_SECRET")
    _export_fal_hosts(settings)

    from bot import logs
    from bot.app import build_app, make_provider, open_services
    from bot.server import BotServer, serve

    logs.configure(settings.log_level, settings.secrets())
    provider = make_provider(settings)

    async def go() -> None:
        services = await open_services(settings, provider=provider)
        app = build_app(services)
        await serve(BotServer(app, services, http=http, host=args.host, port=args.port))

    asyncio.run(go())
    return 0

"""The `imagebot` command: run the bot, print spend reports, or try it offline."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.config import ConfigError, Settings, load_settings
from bot.periods import Period, PeriodError, date_range, month_of
from bot.reports import Report, report_csv, report_table
from bot.spend import build_report
from bot.store import Store
from bot.store.ledger import GROUPINGS


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

    report = commands.add_parser("report", help="print a spend report from the database")
    report.add_argument("--format", choices=("table", "csv"), default="table")
    report.add_argument("--since", type=_date, help="first day, YYYY-MM-DD (default: this month)")
    report.add_argument("--until", type=_date, help="last day, YYYY-MM-DD (default: today)")
    report.add_argument("--by", choices=GROUPINGS, default="user")
    report.set_defaults(func=_report)

    reconcile = commands.add_parser("reconcile", help="compare charges with fal's billing records")
    reconcile.add_argument(
        "--since", type=_date, help="first day, YYYY-MM-DD (default: this month)"
    )
    reconcile.add_argument("--until", type=_date, help="last day, YYYY-MM-DD (default: today)")
    reconcile.add_argument(
        "--fix", action="store_true", help="settle differences to fal's figures, book the rest"
    )
    reconcile.set_defaults(func=_reconcile)

    demo = commands.add_parser("demo", help="try the bot offline: no keys, no network")
    demo.add_argument("--prompt", help="your own words for the first request")
    demo.add_argument("--html", action="store_true", help="also write a page of the conversation")
    demo.add_argument("--out", type=Path, help="the folder for images and the report")
    demo.set_defaults(func=_demo)
    return parser


def _demo(args: argparse.Namespace) -> int:
    from bot.demo import main as demo

    return demo(args.prompt, args.out, args.html)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (use YYYY-MM-DD)") from None


def _report(args: argparse.Namespace) -> int:
    """The spend report on the command line, from the database the bot uses."""
    settings = load_settings()
    path = settings.database_path
    if not path.exists():
        raise ConfigError(f"IMAGEBOT_DATABASE_URL: there is no database at {path}")
    zone = settings.zone
    period = _period(args, zone)

    async def build() -> Report:
        store = await Store.open(path)
        try:
            return await build_report(store, period, args.by, zone)
        finally:
            await store.close()

    report = asyncio.run(build())
    if args.format == "csv":
        sys.stdout.buffer.write(report_csv(report))
    else:
        print(report_table(report))
    return 0


def _period(args: argparse.Namespace, zone: ZoneInfo) -> Period:
    """--since/--until as a period in the zone (both days included); this month without them."""
    today = datetime.now(zone).date()
    if args.since is None and args.until is None:
        return month_of(datetime.now(UTC), zone)
    try:
        return date_range(args.since or today.replace(day=1), args.until or today, zone)
    except PeriodError as exc:
        raise ConfigError(f"--since/--until: {exc}") from None


def _reconcile(args: argparse.Namespace) -> int:
    from bot.reconcile import command

    settings = load_settings()
    return command(settings, _period(args, settings.zone), fix=args.fix)


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

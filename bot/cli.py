"""The `imagebot` command: run the bot, print spend reports, check a running bot's health, or
try it offline. Whatever stops it is one line on stderr naming the cause, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import NoReturn
from zoneinfo import ZoneInfo

from bot import __version__
from bot.config import ConfigError, Settings, load_settings
from bot.domain.clock import system_clock
from bot.domain.demo_pricing import DEMO_NOTE
from bot.domain.periods import Period, PeriodError, date_range, month_of
from bot.money.reports import report_csv, report_table
from bot.store import CopyRefused, Store, StoreError
from bot.store.ledger import GROUPINGS
from bot.store.report import Report

# `imagebot health` calls a bot unwell whose health file is older than this.
HEALTH_STALE_SECONDS = 60.0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, like every other refusal of the command (argparse prints the usage too)."""
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"imagebot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="imagebot", description=__doc__)
    parser.add_argument("--version", action="version", version=f"imagebot {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    run = commands.add_parser("run", help="run the bot (Socket Mode if SLACK_APP_TOKEN is set)")
    run.add_argument("--http", action="store_true", help="HTTP mode: Slack posts to /slack/events")
    run.add_argument("--port", type=_port, help="HTTP mode's port (default: $PORT, else 3000)")
    run.add_argument("--host", type=_host, default="0.0.0.0", help="default: 0.0.0.0")
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

    database = commands.add_parser("db", help="move the bot's data between databases")
    steps = database.add_subparsers(dest="step", metavar="STEP", parser_class=_Parser)
    steps.required = True
    copy = steps.add_parser("copy", help="copy every job, charge and budget into an empty database")
    copy.add_argument("source", type=_database_url, help="sqlite:///path.db or postgresql://…")
    copy.add_argument("destination", type=_database_url, help="an empty (or new) database")
    copy.set_defaults(func=_db_copy)

    health = commands.add_parser("health", help="exit 0 if the running bot is healthy")
    health.add_argument("--url", help="its /healthz URL (default: read IMAGEBOT_HEALTH_FILE)")
    health.set_defaults(func=_health)
    return parser


def _database_url(text: str) -> Path | str:
    """What Store.open takes for a database URL."""
    if text.startswith("sqlite:///"):
        return Path(text.removeprefix("sqlite:///"))
    if text.startswith(("postgresql://", "postgres://")):
        return text
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a database URL (use sqlite:///path/to.db or postgresql://user@host/db)"
    )


def _db_copy(args: argparse.Namespace) -> int:
    """`imagebot db copy SRC DST`: both migrated, DST must be empty; one line per table."""

    async def copy() -> dict[str, int]:
        try:
            source = await Store.open(args.source, create=False)
        except StoreError as exc:
            raise ConfigError(f"db copy: source: {exc}") from None
        try:
            destination = await Store.open(args.destination)
        except StoreError as exc:
            await source.close()
            raise ConfigError(f"db copy: destination: {exc}") from None
        try:
            return await source.copy_into(destination)
        except CopyRefused as exc:
            raise ConfigError(f"db copy: {exc}") from None
        finally:
            await source.close()
            await destination.close()

    for table, count in asyncio.run(copy()).items():
        print(f"{table}: {count} rows copied")
    return 0


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (use 1 to 65535)")
    return int(text)


def _host(text: str) -> str:
    """An address to listen on; something shaped like an IPv4 address must be one (a name
    would be looked up in DNS, which can take long to say no)."""
    if re.fullmatch(r"[0-9.]+", text):
        try:
            ipaddress.IPv4Address(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an IP address") from None
    return text


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (use YYYY-MM-DD)") from None


def _demo(args: argparse.Namespace) -> int:
    from bot.demo.conversation import main as demo

    return demo(args.prompt, args.out, args.html)


def _report(args: argparse.Namespace) -> int:
    """The spend report on the command line, from the database the bot uses."""
    settings = load_settings()
    path = settings.database_target
    if isinstance(path, Path) and not path.exists():
        raise ConfigError(f"IMAGEBOT_DATABASE_URL: there is no database at {path}")
    zone = settings.zone
    period = _period(args, zone)

    async def build() -> tuple[Report, int]:
        try:
            store = await Store.open(path, create=False)
        except StoreError as exc:
            raise ConfigError(f"IMAGEBOT_DATABASE_URL: {exc}") from None
        try:
            report = await store.report(period, args.by, zone)
            return report.named(await store.names()), await store.demo_micros(period)
        finally:
            await store.close()

    report, demo = asyncio.run(build())
    if args.format == "csv":
        sys.stdout.buffer.write(report_csv(report))
    else:
        print(report_table(report))
        if demo:
            print(f"\n{DEMO_NOTE}")
    return 0


def _period(args: argparse.Namespace, zone: ZoneInfo) -> Period:
    """--since/--until as a period in the zone (both days included); this month without them."""
    now = system_clock()
    today = now.astimezone(zone).date()
    if args.since is None and args.until is None:
        return month_of(now, zone)
    try:
        return date_range(args.since or today.replace(day=1), args.until or today, zone)
    except PeriodError as exc:
        raise ConfigError(f"--since/--until: {exc}") from None


def _reconcile(args: argparse.Namespace) -> int:
    from bot.money.reconcile import command

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


def _mode(args: argparse.Namespace, settings: Settings) -> bool:
    """True for HTTP mode. Without --http, SLACK_APP_TOKEN means Socket Mode (the manifest's
    default), so with neither it nor a signing secret the app token is what is missing."""
    settings.require("SLACK_BOT_TOKEN")
    settings.require_token_shapes()
    if args.http:
        settings.require("SLACK_SIGNING_SECRET")
        return True
    if settings.slack_app_token is None:
        if settings.slack_signing_secret is None:
            settings.require("SLACK_APP_TOKEN")
        return True
    return False


def _run(args: argparse.Namespace) -> int:
    settings = load_settings()
    http = _mode(args, settings)
    _export_fal_hosts(settings)

    from bot.app import build_app, make_provider, open_services
    from bot.run import logs
    from bot.run.server import BotServer, StartError, serve

    logs.configure(settings.log_level, settings.secrets())
    provider = make_provider(settings, socket_mode=not http)
    if not http and settings.public_url is not None:
        logging.getLogger("bot.run").warning(
            "IMAGEBOT_PUBLIC_URL is set, but in Socket Mode no server listens for fal's"
            " webhooks: jobs follow fal's status stream instead"
        )
    port = args.port if args.port is not None else settings.port

    async def go() -> None:
        services = await open_services(settings, provider=provider)
        app = build_app(services)
        await serve(BotServer(app, services, http=http, host=args.host, port=port))

    try:
        asyncio.run(go())
    except StartError as exc:
        print(f"imagebot: {exc}", file=sys.stderr)
        return 1
    return 0


def _health(args: argparse.Namespace) -> int:
    """For container health checks: HTTP mode's /healthz, or Socket Mode's health file."""
    url = args.url
    if url is None:
        path = load_settings().health_file
        if path is None:
            raise ConfigError(
                "IMAGEBOT_HEALTH_FILE is not set: the file the bot writes its health to"
                " (or pass --url http://127.0.0.1:3000/healthz)"
            )
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            age = (system_clock() - datetime.fromisoformat(state["at"])).total_seconds()
        except (OSError, ValueError, KeyError, TypeError):
            return _verdict(False, f"no health written to {path} yet")
        if age > HEALTH_STALE_SECONDS:
            return _verdict(False, f"the bot last wrote its health {age:.0f} s ago")
        url = state.get("url")
        if url is None:
            return _verdict(bool(state.get("ok")), _failing(state))
    try:
        with urllib.request.urlopen(url, timeout=4) as answer:
            body = json.loads(answer.read() or b"{}")
            return _verdict(answer.status == 200, _failing(body))
    except urllib.error.HTTPError as exc:
        return _verdict(False, _failing(json.loads(exc.read() or b"{}")))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return _verdict(False, f"{url} did not answer ({exc})")


def _failing(state: dict[str, object]) -> str:
    bad = [name for name, value in state.items() if value is False and name != "ok"]
    return "not ready: " + ", ".join(bad) if bad else "not ready"


def _verdict(ok: bool, problem: str) -> int:
    print("healthy" if ok else f"unhealthy: {problem}")
    return 0 if ok else 1

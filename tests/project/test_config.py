"""Settings from the environment and .env, and how the command line reports bad ones."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

import bot
from bot.config import ConfigError, Settings, load_settings

CONTRACT = {
    "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL", "FAL_KEY",
    "FAL_RUN_HOST", "FAL_QUEUE_RUN_HOST", "IMAGEBOT_DATABASE_URL", "IMAGEBOT_ADMINS",
    "IMAGEBOT_USER_MONTHLY_BUDGET", "IMAGEBOT_TEAM_MONTHLY_BUDGET", "IMAGEBOT_DEFAULT_QUALITY",
    "IMAGEBOT_PROVIDER",
}  # fmt: skip


def settings(**env: str) -> Settings:
    return Settings.model_validate(env)


def test_every_contract_name_is_a_setting() -> None:
    names = {
        alias
        for field in Settings.model_fields.values()
        for alias in getattr(field.validation_alias, "choices", [field.validation_alias])
    }
    assert names >= CONTRACT


def test_defaults_follow_the_contract() -> None:
    s = settings()
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.database_url == "sqlite:///imagebot.db"
    assert s.user_monthly_budget == Decimal("20") and s.team_monthly_budget is None
    assert s.default_quality == "medium" and s.provider == "fal" and s.admins == frozenset()


def test_webhooks_are_asked_for_at_the_public_url() -> None:
    assert (
        settings().fal_webhook_url is None and settings(IMAGEBOT_PUBLIC_URL="").public_url is None
    )
    assert settings().fal_jwks_url == "https://rest.fal.ai/.well-known/jwks.json"
    s = settings(IMAGEBOT_PUBLIC_URL="https://imagebot.example.com/")
    assert s.fal_webhook_url == "https://imagebot.example.com/fal/webhook"


def test_lists_empty_budgets_and_urls() -> None:
    s = settings(
        IMAGEBOT_ADMINS="U1, U2,,",
        IMAGEBOT_USER_MONTHLY_BUDGET="",
        IMAGEBOT_TEAM_MONTHLY_BUDGET="150.50",
        SLACK_API_URL="http://127.0.0.1:9/api",
    )
    assert s.admins == {"U1", "U2"}
    assert s.user_monthly_budget is None and s.team_monthly_budget == Decimal("150.50")
    assert s.slack_api_url == "http://127.0.0.1:9/api/"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"IMAGEBOT_USER_MONTHLY_BUDGET": "lots"}, "IMAGEBOT_USER_MONTHLY_BUDGET"),
        ({"IMAGEBOT_USER_MONTHLY_BUDGET": "-5"}, "IMAGEBOT_USER_MONTHLY_BUDGET"),
        ({"IMAGEBOT_DEFAULT_QUALITY": "ultra"}, "IMAGEBOT_DEFAULT_QUALITY"),
        ({"IMAGEBOT_PROVIDER": "midjourney"}, "IMAGEBOT_PROVIDER"),
        ({"IMAGEBOT_DATABASE_URL": "mysql://x"}, "IMAGEBOT_DATABASE_URL"),
        ({"IMAGEBOT_TIMEZONE": "Mars/Olympus"}, "IMAGEBOT_TIMEZONE"),
        ({"IMAGEBOT_MAX_JOBS_AT_FAL": "0"}, "IMAGEBOT_MAX_JOBS_AT_FAL"),
        ({"IMAGEBOT_PUBLIC_URL": "imagebot.example.com"}, "IMAGEBOT_PUBLIC_URL"),
        ({"IMAGEBOT_FAL_JWKS_URL": "rest.fal.ai/keys"}, "IMAGEBOT_FAL_JWKS_URL"),
    ],
)
def test_a_malformed_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    message = str(caught.value)
    assert message.startswith(named) and "\n" not in message


def test_missing_required_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"^SLACK_BOT_TOKEN is not set"):
        settings().require("SLACK_BOT_TOKEN")


def test_dotenv_in_the_working_directory_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("IMAGEBOT_ADMINS=U9\nIMAGEBOT_DEFAULT_QUALITY=low\n")
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.admins == {"U9"} and s.default_quality == "low"


def _run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "IMAGEBOT_", "FAL_KEY"))
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "SLACK_BOT_TOKEN"),
        # The manifest turns Socket Mode on: the app token is what such a setup lacks.
        ({"SLACK_BOT_TOKEN": "xoxb-1-2-3"}, "SLACK_APP_TOKEN is not set"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "PORT": "http"}, "PORT: must be a port number"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, "FAL_KEY"),
        ({"SLACK_BOT_TOKEN": "abc", "SLACK_SIGNING_SECRET": "s"}, "SLACK_BOT_TOKEN"),
        (
            {"SLACK_BOT_TOKEN": "xoxb-1", "IMAGEBOT_USER_MONTHLY_BUDGET": "x"},
            "IMAGEBOT_USER_MONTHLY_BUDGET",
        ),
        (
            {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "FAL_KEY": "k"}
            | {"IMAGEBOT_PRICE_FILE": "prices.toml"},
            "IMAGEBOT_PRICE_FILE",
        ),
    ],
)
def test_imagebot_run_stops_with_one_clear_line(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    (tmp_path / "prices.toml").write_text("[per_image.medium]\nthis is = = not toml\n")
    done = _run_cli(["run"], env, tmp_path)

    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert "xoxb-1" not in done.stderr


def test_http_mode_asks_for_the_signing_secret(tmp_path: Path) -> None:
    done = _run_cli(["run", "--http"], {"SLACK_BOT_TOKEN": "xoxb-1-2-3"}, tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("imagebot: SLACK_SIGNING_SECRET is not set")


@pytest.mark.parametrize("port", ["", " ", "http", "99999"])
def test_any_port_setting_leaves_help_working(tmp_path: Path, port: str) -> None:
    done = _run_cli(["run", "--help"], {"PORT": port}, tmp_path)
    assert done.returncode == 0 and "--port" in done.stdout and done.stderr == ""


def test_an_empty_port_means_the_default() -> None:
    assert settings(PORT="").port == 3000 and settings(PORT="8080").port == 8080


def test_no_arguments_show_help_and_version_is_known(tmp_path: Path) -> None:
    bare = _run_cli([], {}, tmp_path)
    assert bare.returncode == 0 and bare.stdout.startswith("usage: imagebot")
    assert all(command in bare.stdout for command in ("run", "report", "demo", "health"))
    version = _run_cli(["--version"], {}, tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"imagebot {bot.__version__}"

"""Settings: the environment (and a `.env` file) read and validated once at start."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.domain.request import Quality

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_FAL_API_URL = "https://api.fal.ai/v1"
# fal's webhook docs (fal.ai/docs/documentation/model-apis/inference/webhooks); older revisions
# named https://rest.alpha.fal.ai/.well-known/jwks.json.
DEFAULT_FAL_JWKS_URL = "https://rest.fal.ai/.well-known/jwks.json"
WEBHOOK_PATH = "/fal/webhook"


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line naming the variable."""


def _env(name: str) -> Any:
    """An optional setting read from the environment variable `name`."""
    return Field(None, validation_alias=AliasChoices(name))


class Settings(BaseSettings):
    """Every setting the bot reads, by its environment name."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=False
    )

    slack_bot_token: SecretStr | None = _env("SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = _env("SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = _env("SLACK_APP_TOKEN")
    slack_api_url: str = Field(DEFAULT_SLACK_API_URL, validation_alias="SLACK_API_URL")
    fal_key: SecretStr | None = _env("FAL_KEY")
    fal_admin_key: SecretStr | None = _env("FAL_ADMIN_KEY")
    fal_api_url: str = Field(DEFAULT_FAL_API_URL, validation_alias="IMAGEBOT_FAL_API_URL")
    fal_run_host: str | None = _env("FAL_RUN_HOST")
    fal_queue_run_host: str | None = _env("FAL_QUEUE_RUN_HOST")
    public_url: str | None = _env("IMAGEBOT_PUBLIC_URL")
    fal_jwks_url: str = Field(DEFAULT_FAL_JWKS_URL, validation_alias="IMAGEBOT_FAL_JWKS_URL")

    database_url: str = Field("sqlite:///imagebot.db", validation_alias="IMAGEBOT_DATABASE_URL")
    admins: Annotated[frozenset[str], NoDecode] = Field(
        frozenset(), validation_alias="IMAGEBOT_ADMINS"
    )
    workspace_admins_are_admins: bool = Field(
        False, validation_alias="IMAGEBOT_WORKSPACE_ADMINS_ARE_ADMINS"
    )
    user_monthly_budget: Decimal | None = Field(
        Decimal("20"), validation_alias="IMAGEBOT_USER_MONTHLY_BUDGET"
    )
    team_monthly_budget: Decimal | None = Field(
        None, validation_alias="IMAGEBOT_TEAM_MONTHLY_BUDGET"
    )
    default_quality: Quality = Field("medium", validation_alias="IMAGEBOT_DEFAULT_QUALITY")
    provider: Literal["fal", "mock"] = Field("fal", validation_alias="IMAGEBOT_PROVIDER")
    timezone: str = Field("UTC", validation_alias="IMAGEBOT_TIMEZONE")

    max_jobs_at_fal: int = Field(8, ge=1, le=1000, validation_alias="IMAGEBOT_MAX_JOBS_AT_FAL")
    max_jobs_per_user: int = Field(2, ge=1, le=1000, validation_alias="IMAGEBOT_MAX_JOBS_PER_USER")
    job_deadline_seconds: float = Field(600, gt=0, validation_alias="IMAGEBOT_JOB_DEADLINE_SECONDS")
    lease_seconds: float = Field(30, ge=1, le=3600, validation_alias="IMAGEBOT_LEASE_SECONDS")
    webhook_grace_seconds: float = Field(
        60, ge=1, validation_alias="IMAGEBOT_WEBHOOK_GRACE_SECONDS"
    )
    progress_interval_seconds: float = Field(
        3, ge=0.1, validation_alias="IMAGEBOT_PROGRESS_INTERVAL_SECONDS"
    )
    max_input_image_mb: float = Field(20, gt=0, validation_alias="IMAGEBOT_MAX_INPUT_IMAGE_MB")
    allowed_channels: Annotated[frozenset[str], NoDecode] = Field(
        frozenset(), validation_alias="IMAGEBOT_ALLOWED_CHANNELS"
    )
    prompt_retention_days: int | None = Field(
        None, ge=1, validation_alias="IMAGEBOT_PROMPT_RETENTION_DAYS"
    )
    price_file: Path | None = Field(None, validation_alias="IMAGEBOT_PRICE_FILE")
    models_file: Path | None = Field(None, validation_alias="IMAGEBOT_MODELS_FILE")
    spool_dir: Path | None = Field(None, validation_alias="IMAGEBOT_SPOOL_DIR")
    card_updates_per_minute: float = Field(
        50, gt=0, validation_alias="IMAGEBOT_CARD_UPDATES_PER_MINUTE"
    )
    mock_delay_seconds: float = Field(2.0, ge=0, validation_alias="IMAGEBOT_MOCK_DELAY_SECONDS")
    log_level: str = Field("INFO", validation_alias="IMAGEBOT_LOG_LEVEL")
    health_file: Path | None = Field(None, validation_alias="IMAGEBOT_HEALTH_FILE")
    # The port HTTP mode listens on when --port is not given (platforms like Heroku set PORT).
    port: int = Field(3000, validation_alias="PORT")

    @field_validator("admins", "allowed_channels", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator(
        "user_monthly_budget",
        "team_monthly_budget",
        "prompt_retention_days",
        "price_file",
        "models_file",
        "spool_dir",
        "health_file",
        "public_url",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("", "none", "unlimited"):
            return None
        return value

    @field_validator("port", mode="before")
    @classmethod
    def _port(cls, value: object) -> object:
        text = str(value).strip()
        if not text:
            return 3000
        if not text.isdigit() or not 1 <= int(text) <= 65535:
            raise ValueError("must be a port number from 1 to 65535")
        return int(text)

    @field_validator("user_monthly_budget", "team_monthly_budget")
    @classmethod
    def _non_negative(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and (not value.is_finite() or value < 0):
            raise ValueError("must be a number of dollars, 0 or more, or empty for no limit")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use a name like Europe/Paris)") from exc
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL such as https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @field_validator("fal_api_url")
    @classmethod
    def _fal_api_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL such as https://api.fal.ai/v1")
        return value.rstrip("/")

    @field_validator("public_url", "fal_jwks_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL such as https://imagebot.example.com")
        return value.rstrip("/") if value is not None else None

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError(
                "must look like sqlite:///path/to/imagebot.db or postgresql://user@host/db"
            )
        return value

    @property
    def fal_webhook_url(self) -> str | None:
        """Where fal posts a finished request (IMAGEBOT_PUBLIC_URL set: HTTP mode only)."""
        return None if self.public_url is None else self.public_url + WEBHOOK_PATH

    @property
    def max_input_image_bytes(self) -> int:
        return int(self.max_input_image_mb * 1_000_000)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def uses_postgres(self) -> bool:
        return not self.database_url.startswith("sqlite:///")

    @property
    def database_path(self) -> Path:
        """The SQLite file (with PostgreSQL: the working directory, beside which the spool
        lives unless IMAGEBOT_SPOOL_DIR says otherwise)."""
        if self.uses_postgres:
            return Path("imagebot.db")
        return Path(self.database_url.removeprefix("sqlite:///"))

    @property
    def database_target(self) -> Path | str:
        """What the store opens: the SQLite file, or the PostgreSQL URL."""
        return self.database_url if self.uses_postgres else self.database_path

    @property
    def spool_path(self) -> Path:
        """Where finished images wait until Slack has them (beside the database by default)."""
        if self.spool_dir is not None:
            return self.spool_dir
        return self.database_path.parent / "imagebot-spool"

    def secrets(self) -> list[str]:
        """Every secret value, for redaction from logs."""
        values = (self.slack_bot_token, self.slack_signing_secret, self.slack_app_token)
        fal = (self.fal_key, self.fal_admin_key)
        found = [v.get_secret_value() for v in (*values, *fal) if v is not None]
        return [s for s in found if len(s) >= 6]

    def fal_platform_key(self) -> str | None:
        """The key for fal's Platform API: FAL_ADMIN_KEY (billing events need it), else FAL_KEY."""
        for key in (self.fal_admin_key, self.fal_key):
            if key is not None and key.get_secret_value():
                return key.get_secret_value()
        return None

    def require(self, *names: str) -> None:
        """Stop with one line naming the first required variable that is missing."""
        for name in names:
            field = _FIELD_BY_ENV.get(name)
            if field is None:
                raise KeyError(name)
            value = getattr(self, field)
            if value is None or (isinstance(value, SecretStr) and not value.get_secret_value()):
                raise ConfigError(f"{name} is not set: {_REQUIRED_HINTS.get(name, 'required')}")

    def require_token_shapes(self) -> None:
        checks = (("SLACK_BOT_TOKEN", "xoxb-"), ("SLACK_APP_TOKEN", "xapp-"))
        for name, prefix in checks:
            value = getattr(self, _FIELD_BY_ENV[name])
            if value is not None and not value.get_secret_value().startswith(prefix):
                raise ConfigError(
                    f"{name} should start with {prefix} (check you copied the right token)"
                )


_FIELD_BY_ENV: dict[str, str] = {
    alias: name
    for name, info in Settings.model_fields.items()
    for alias in (
        info.validation_alias.choices
        if isinstance(info.validation_alias, AliasChoices)
        else [info.validation_alias]
    )
    if isinstance(alias, str)
}

_REQUIRED_HINTS = {
    "SLACK_BOT_TOKEN": "the bot token (xoxb-...) from your Slack app's OAuth & Permissions page",
    "SLACK_APP_TOKEN": (
        "the app-level token (xapp-...) for Socket Mode, which the manifest turns on: create one"
        " with connections:write under Basic Information, App-Level Tokens (or, for HTTP mode,"
        " set SLACK_SIGNING_SECRET)"
    ),
    "SLACK_SIGNING_SECRET": "needed in HTTP mode; it is under Basic Information in your Slack app",
    "FAL_KEY": "your fal API key, or set IMAGEBOT_PROVIDER=mock to try without fal",
}


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning validation errors into one readable line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_first_problem(exc)) from None


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else "setting"
    env_name = next((env for env, name in _FIELD_BY_ENV.items() if name == field), field)
    message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
    given = error.get("input")
    secret = any(word in env_name for word in ("TOKEN", "SECRET", "KEY"))
    shown = f" (got {given!r})" if isinstance(given, str | int | float) and not secret else ""
    return f"{env_name}: {message}{shown}"

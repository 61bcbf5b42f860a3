"""Process settings: environment variables (``LLMHUB_*``) overridden by command-line flags.

Validated once at start; a bad value stops the process with a message naming the variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.db import DATABASE_FILE_NAME, database_url, sqlite_url
from services.errors import StartupError
from services.gateway.reservation import DEFAULT_RESERVED_COMPLETION_TOKENS
from services.gateway.validation import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_DEPTH, DEFAULT_MAX_MESSAGES

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLMHUB_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    data_dir: Path = Path("data")
    config: Path | None = None
    database_url: str | None = Field(None, repr=False,  # may hold a password
                                      description="sqlite:///<file> or postgresql+psycopg://…; default: <data dir>/llmhub.db")
    master_key: str | None = Field(None, min_length=8, repr=False)
    secret_key: str | None = Field(None, repr=False)
    session_secret: str | None = Field(None, min_length=16, repr=False, description="signs console sessions; shared by every instance")
    log_level: LogLevel = "info"
    admin_email: str | None = None
    admin_password: str | None = Field(None, repr=False)
    upstream_timeout: float = Field(60.0, gt=0, description="seconds to wait for an upstream byte")
    upstream_connect_timeout: float = Field(5.0, gt=0)
    max_attempts: int = Field(5, ge=1, le=20)
    retry_budget: float = Field(30.0, gt=0, description="seconds after which no new attempt starts")
    cooldown_wait_budget: float = Field(2.0, ge=0, description="longest wait for a cooling key")
    default_cooldown: float = Field(30.0, gt=0, description="cooldown after a 429 without Retry-After")
    circuit_threshold: int = Field(5, ge=1, description="consecutive failures that open a provider circuit")
    circuit_open_seconds: float = Field(30.0, gt=0)
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=1024, description="largest API request body; larger answers 413")
    max_messages: int = Field(DEFAULT_MAX_MESSAGES, ge=1, description="most messages in one chat request")
    reserved_completion_tokens: int = Field(DEFAULT_RESERVED_COMPLETION_TOKENS, ge=1,
                                            description="completion tokens a budget holds for a call that sets no max_tokens")
    session_idle_minutes: float = Field(480, gt=0, description="a console session ends this long after its last page load")
    session_max_hours: float = Field(168, gt=0, description="a console session ends this long after sign-in")
    trusted_proxies: str = Field("", description="addresses whose X-Forwarded-Proto/-For uvicorn believes (comma-separated)")
    max_json_depth: int = Field(DEFAULT_MAX_DEPTH, ge=4, le=200, description="deepest nesting of arrays and objects in a body")
    redis_url: str | None = Field(None, description="redis://… : share cooldowns, limits, spend and changes with other instances")
    redis_prefix: str = Field("llmhub:", min_length=1, description="prefix of every Redis key this hub (cluster) uses")
    workers: int = Field(1, ge=1, le=64, description="worker processes on one port (more than 1 needs LLMHUB_REDIS_URL)")
    worker_index: int | None = Field(None, ge=0, description="set by the --workers parent for each worker")

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value:
            try:
                return database_url(value).render_as_string(hide_password=False)
            except StartupError as exc:
                raise ValueError(exc.message) from None
        return None

    @property
    def database(self) -> str:
        """The database URL the hub opens (the SQLite file in the data dir unless ``LLMHUB_DATABASE_URL`` names one)."""
        return self.database_url or sqlite_url(self.data_dir / DATABASE_FILE_NAME)


def _is_secret(name: str) -> bool:
    return any(word in name for word in ("KEY", "PASSWORD", "SECRET", "URL"))  # a database URL may hold a password


class SettingsError(Exception):
    """A setting has a bad value; the message names it."""


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, apply non-None overrides, validate."""
    given: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}  # unchecked until pydantic validates them
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = "LLMHUB_" + "_".join(str(p) for p in err["loc"]).upper()
            shown = "hidden" if _is_secret(name) else repr(err.get("input"))
            problems.append(f"{name}: {err['msg']} (got {shown})")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems)) from None

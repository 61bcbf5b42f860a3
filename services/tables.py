"""Database tables. Times are aware UTC datetimes (stored as UTC); money is integer micro-dollars (1 USD = 1_000_000).

Secrets are stored only encrypted (``secret_enc``) plus the last four characters for display;
gateway tokens only as a SHA-256 hash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import (
    JSON,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from services.clock import utcnow

ProviderKind = Literal["openai", "anthropic", "gemini", "ollama", "openai_compatible", "azure", "bedrock", "vertex"]
PROVIDER_KINDS: tuple[str, ...] = get_args(ProviderKind)


class SchemaVersion(SQLModel, table=True):
    id: int = Field(default=1, primary_key=True)
    version: int


class Provider(SQLModel, table=True):
    __table_args__ = {"sqlite_autoincrement": True}  # ids never reused: usage rows keep pointing at the right one
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    kind: str
    base_url: str | None = None
    options: dict[str, str] | None = Field(default=None, sa_column=Column(JSON))  # kind-specific: api_version, region, project…
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ProviderKey(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("provider_id", "label"), {"sqlite_autoincrement": True})
    id: int | None = Field(default=None, primary_key=True)
    provider_id: int = Field(foreign_key="provider.id", index=True)
    label: str
    secret_enc: str
    secret_last4: str
    priority: int = 1
    weight: int = 1
    rpm: int | None = None
    tpm: int | None = None
    daily_tokens: int | None = None
    monthly_usd_micros: int | None = None
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class KeyState(SQLModel, table=True):
    """Mirror of a key's in-memory health so it survives a restart: what concerns the key as a whole
    (an admin's cooldown, invalid or exhausted, its own limits' counters). What a provider meters per
    model is in ``DeploymentState``."""

    key_id: int = Field(primary_key=True, foreign_key="providerkey.id")
    cooldown_until: datetime | None = None
    disabled_reason: str | None = None  # "invalid" | "exhausted"
    exhausted_until: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    day: str | None = None  # YYYY-MM-DD of the daily token counter
    day_tokens: int = 0
    month: str | None = None  # YYYY-MM of the monthly spend counter
    month_cost_micros: int = 0
    updated_at: datetime = Field(default_factory=utcnow)


class DeploymentState(SQLModel, table=True):
    """Mirror of one deployment's health (a key serving one upstream model): providers rate-limit and
    fail per model, so a 429 or a run of errors for one model leaves the key's other models alone."""

    key_id: int = Field(primary_key=True, foreign_key="providerkey.id")
    model: str = Field(primary_key=True)
    cooldown_until: datetime | None = None  # after a 429
    resting_until: datetime | None = None  # after a run of failures
    consecutive_failures: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class RouteState(SQLModel, table=True):
    """Mirror of a route's own limit counters for one key (a route's limits are counted per key, as a
    LiteLLM deployment's are)."""

    route_id: int = Field(primary_key=True, foreign_key="modelroute.id")
    key_id: int = Field(primary_key=True, foreign_key="providerkey.id")
    day: str | None = None
    day_tokens: int = 0
    month: str | None = None
    month_cost_micros: int = 0
    updated_at: datetime = Field(default_factory=utcnow)


class ProviderCircuit(SQLModel, table=True):
    provider_id: int = Field(primary_key=True, foreign_key="provider.id")
    consecutive_failures: int = 0
    open_until: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class LogicalModel(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)  # may end in "*": a wildcard model (``openai/*``)
    description: str | None = None
    enabled: bool = True
    num_retries: int | None = None  # upstream calls after the first; None: the process setting
    timeout_seconds: float | None = None  # longest wait for an upstream byte (non-stream calls)
    stream_timeout_seconds: float | None = None  # the same for streams
    drop_params: bool = False  # parameters a route cannot honour (n, logprobs, tool types) are dropped, not refused
    cache: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))  # response cache settings (services.cache.policy); None: off
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ModelAlias(SQLModel, table=True):
    """Another name clients may ask for a logical model by (LiteLLM's ``model_group_alias``)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    model_id: int = Field(foreign_key="logicalmodel.id", index=True)


class ModelRoute(SQLModel, table=True):
    """One deployment of a logical model: a provider's upstream model, with the keys it may use and
    its own limits, prices, default parameters, headers and tags."""

    id: int | None = Field(default=None, primary_key=True)
    model_id: int = Field(foreign_key="logicalmodel.id", index=True)
    provider_id: int = Field(foreign_key="provider.id", index=True)
    upstream_model: str  # "*" in it takes what the wildcard model's name matched
    priority: int = 1
    weight: int = 1
    keys: list[str] | None = Field(default=None, sa_column=Column(JSON))  # key labels; None: all the provider's keys
    rpm: int | None = None
    tpm: int | None = None
    daily_tokens: int | None = None
    monthly_usd_micros: int | None = None
    price: dict[str, str] | None = Field(default=None, sa_column=Column(JSON))  # {"input", "output"}: USD per 1M tokens
    params: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))  # defaults for parameters a request leaves out
    headers_enc: str | None = None  # extra request headers as encrypted JSON (they may carry credentials)
    tags: list[str] | None = Field(default=None, sa_column=Column(JSON))
    context_fallback: bool = False  # tried only when the request does not fit the routes before it
    context_window: int | None = None  # tokens; None: the known window of the upstream model


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(index=True, unique=True)
    name: str = ""
    password_hash: str | None = None
    role: str = "user"  # "admin" | "user"
    status: str = "active"  # "active" | "pending" | "disabled"
    session_epoch: int = 0  # bumped to sign the user out everywhere
    totp_secret_enc: str | None = None
    totp_enabled: bool = False
    recovery_codes: list[str] | None = Field(default=None, sa_column=Column(JSON))  # SHA-256 hashes
    dark_mode: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None


class Invite(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(index=True, unique=True)
    email: str | None = None
    role: str = "user"
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class AppSetting(SQLModel, table=True):
    """Settings an admin changes at run time (registration mode, body logging, retention, ...)."""

    key: str = Field(primary_key=True)
    value: dict[str, Any] | list[Any] | str | int | float | bool | None = Field(default=None, sa_column=Column(JSON))
    updated_at: datetime = Field(default_factory=utcnow)


class AuditEvent(SQLModel, table=True):
    __table_args__ = (Index("ix_audit_at", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    actor_id: int | None = None
    actor: str | None = None  # e-mail or "master key" or "config file"
    action: str  # e.g. "login.success", "key.create", "user.role"
    target: str | None = None
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    ip: str | None = None


class GatewayToken(SQLModel, table=True):
    __table_args__ = {"sqlite_autoincrement": True}
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    name: str
    token_hash: str = Field(index=True, unique=True)
    token_last4: str
    monthly_budget_micros: int | None = None
    rpm: int | None = None
    allowed_models: list[str] | None = Field(default=None, sa_column=Column(JSON))
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None


class UsageRecord(SQLModel, table=True):
    __table_args__ = (
        Index("ix_usage_created", "created_at"),
        Index("ix_usage_token_created", "token_id", "created_at"),
        Index("ix_usage_user_created", "user_id", "created_at"),
        Index("ix_usage_request", "request_id"),  # a request's record by the id its caller got (Logs, shared links)
    )
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    request_id: str
    source: str = "api"  # "api" | "console"
    token_id: int | None = None
    user_id: int | None = None
    endpoint: str = "chat"  # "chat" | "embeddings"
    requested_model: str
    provider_id: int | None = None
    provider_name: str | None = None
    upstream_model: str | None = None
    key_id: int | None = None
    status: str = "ok"  # "ok" | "error"
    http_status: int = 200
    error_code: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_micros: int | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    overhead_ms: float | None = None
    stream: bool = False
    attempts: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    cache_hit: bool = False  # answered from the response cache (services.cache): no upstream, cost 0
    cost_saved_micros: int | None = None  # a cache hit's: what the call it replays cost


# -- usage analytics: rollups, user budgets, alerts, logged bodies -----------------------------
# Rollup rows are keyed by an epoch-second bucket start (UTC hour or UTC day) and the dimensions
# below; "none" is stored as 0 / "" (not NULL) so the composite primary key can be upserted.

LATENCY_BUCKETS = 40
"""Latency histogram columns ``lat_0`` … ``lat_39`` (edges in ``services.usage.rollups``)."""


def _rollup_keys() -> list[Column[Any]]:
    return [
        Column("bucket", Integer, primary_key=True),
        Column("user_id", Integer, primary_key=True),
        Column("token_id", Integer, primary_key=True),
        Column("provider", String, primary_key=True),
        Column("key_id", Integer, primary_key=True),
        Column("model", String, primary_key=True),
    ]


def _counter(name: str, kind: type[Integer] | type[Float[float]] = Integer) -> Column[Any]:
    return Column(name, kind, nullable=False, default=0)


def _usage_rollup(name: str) -> Table:
    """Requests per bucket × user × token × provider × key × model × status (the served route)."""
    return Table(
        name, SQLModel.metadata, *_rollup_keys(),
        Column("status", String, primary_key=True),
        *(_counter(c) for c in ("requests", "errors", "prompt_tokens", "completion_tokens", "cost_micros", "cost_unknown", "ttft_count")),
        _counter("latency_ms_sum", Float), _counter("ttft_ms_sum", Float),
        *(_counter(f"lat_{i}") for i in range(LATENCY_BUCKETS)),
        Index(f"ix_{name}_user", "user_id", "bucket"),
    )


def _attempt_rollup(name: str) -> Table:
    """Upstream calls per bucket × user × token × provider × key × requested model (from attempt trails)."""
    return Table(
        name, SQLModel.metadata, *_rollup_keys(),
        *(_counter(c) for c in ("tried", "failed", "skipped", "rate_limited")),
        _counter("ms_sum", Float),
    )


USAGE_ROLLUP_HOUR = _usage_rollup("usage_rollup_hour")
USAGE_ROLLUP_DAY = _usage_rollup("usage_rollup_day")
ATTEMPT_ROLLUP_HOUR = _attempt_rollup("attempt_rollup_hour")
ATTEMPT_ROLLUP_DAY = _attempt_rollup("attempt_rollup_day")


class UserBudget(SQLModel, table=True):
    """A person's monthly spend budget across all their tokens (watched by alerts, shown on the usage page)."""

    user_id: int = Field(primary_key=True, foreign_key="user.id")
    monthly_budget_micros: int
    updated_at: datetime = Field(default_factory=utcnow)


class AlertEvent(SQLModel, table=True):
    """One crossed threshold. The unique key makes each threshold fire once per period."""

    __table_args__ = (UniqueConstraint("kind", "subject", "level", "period"), Index("ix_alert_at", "at"))
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    kind: str  # "key_daily_tokens" | "key_monthly_spend" | "token_budget" | "user_budget" | "error_rate"
    subject: str  # e.g. "key:3", "token:7", "user:2", "provider:openai-main"
    level: int  # percent of the limit, or the error-rate level in percent
    period: str  # "2026-11-14", "2026-11", "2026-11-14T10"
    value: float
    limit_value: float
    message: str
    user_id: int | None = Field(default=None, index=True)  # the owner who may see it besides admins
    acknowledged_at: datetime | None = None


class UsageBody(SQLModel, table=True):
    """Request and response bodies of one call, secrets redacted; written only while ``log_bodies`` is on."""

    __table_args__ = (Index("ix_usagebody_created", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(index=True)
    created_at: datetime = Field(default_factory=utcnow)
    request: dict[str, Any] | list[Any] | None = Field(default=None, sa_column=Column(JSON))
    response: dict[str, Any] | list[Any] | None = Field(default=None, sa_column=Column(JSON))


class StoredResponse(SQLModel, table=True):
    """A Responses API answer kept for ``previous_response_id`` and ``GET /v1/responses/{id}``: the whole
    conversation up to it as input items, and the response object. Only the token that made it sees it
    (``token_id`` null: the master key); pruned with the raw usage records."""

    __table_args__ = (Index("ix_storedresponse_created", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)
    response_id: str = Field(index=True, unique=True)
    token_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    items: list[Any] = Field(default_factory=list, sa_column=Column(JSON))
    response: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


class CacheEntry(SQLModel, table=True):
    """One answer in the response cache (``services.cache``): found by ``key`` (the request's canonical
    form and its scope), replayed as ``content`` (a JSON answer, or a stream's chunks or events), until
    ``expires_at``. The semantic cache also finds it by ``context_key`` (the conversation but its last
    user turn) and ``vector`` (that turn's embedding, float32)."""

    __table_args__ = (Index("ix_cacheentry_model_created", "model", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True, unique=True)
    model: str  # the logical model (purges and size limits go by it)
    endpoint: str
    form: str  # "json" | "chunks" (chat chunks as JSON texts) | "events" (framed server-sent events)
    token_id: int | None = Field(default=None, index=True)
    user_id: int | None = None
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_micros: int | None = None
    size: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)
    context_key: str | None = Field(default=None, index=True)
    vector: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))

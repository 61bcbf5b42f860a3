"""What the catalog answers: public shapes of providers, keys and models, with a key's live status.

A key's secret never appears here: only its last four characters, masked (``…abcd``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal, cast

from pydantic import (
    BaseModel,
    Field,
)

from services.cache.policy import CacheSettings
from services.catalog.inputs import UtcTime, micros_to_usd
from services.clock import to_datetime
from services.gateway.key_state import KeyStateStore
from services.gateway.presets import PRESETS
from services.tables import (
    ProviderKey,
)

KeyStatus = Literal["active", "cooling", "exhausted", "invalid", "disabled"]


class KeyPublic(BaseModel):
    id: int
    provider_id: int
    provider: str
    label: str
    secret_masked: str
    priority: int
    weight: int
    rpm: int | None
    tpm: int | None
    daily_tokens: int | None
    monthly_usd: Decimal | None
    enabled: bool
    status: KeyStatus
    status_until: UtcTime | None = Field(description="when a cooldown or exhaustion ends (UTC)")
    last_error: str | None
    last_error_at: UtcTime | None
    deployments: list[DeploymentPublic] = Field(default_factory=list, description="the models this key served lately")
    created_at: UtcTime
    updated_at: UtcTime


class ProviderPublic(BaseModel):
    id: int
    name: str
    kind: str
    base_url: str | None
    options: dict[str, str] = Field(default_factory=dict, description="kind-specific settings (azure, bedrock, vertex)")
    effective_base_url: str
    enabled: bool
    keys: list[KeyPublic]
    keyless: bool = Field(False, description="called without a key: a local server's kind, with no key configured")
    created_at: UtcTime
    updated_at: UtcTime


class RoutePublic(BaseModel):
    provider: str
    model: str
    priority: int
    weight: int
    keys: list[str] | None = None
    rpm: int | None = None
    tpm: int | None = None
    daily_tokens: int | None = None
    monthly_usd: Decimal | None = None
    price: dict[str, Decimal] | None = Field(None, description="USD per million tokens: input, output")
    params: dict[str, Any] | None = None
    headers: dict[str, str] | None = Field(None, description="extra request headers, values masked")
    tags: list[str] | None = None
    context_fallback: bool = False
    context_window: int | None = None


class ModelPublic(BaseModel):
    id: int
    name: str
    description: str | None
    enabled: bool
    aliases: list[str] = Field(default_factory=list)
    num_retries: int | None = None
    timeout: float | None = None
    stream_timeout: float | None = None
    drop_params: bool = False
    cache: CacheSettings | None = None
    routes: list[RoutePublic]
    created_at: UtcTime
    updated_at: UtcTime


class DeploymentPublic(BaseModel):
    """How one of a key's models fares: providers rate-limit and fail per model."""

    model: str
    status: Literal["active", "cooling", "failing"]
    until: UtcTime | None = Field(description="when a cooldown or rest ends (UTC)")
    consecutive_failures: int
    last_error: str | None
    last_error_at: UtcTime | None


def live_status(states: KeyStateStore, key_id: int, enabled: bool) -> tuple[KeyStatus, float | None]:
    """A key's status word and, while cooling or exhausted, when that ends (epoch seconds).
    Memory only, so the console can poll it every few seconds."""
    if not enabled:
        return "disabled", None
    status = cast(KeyStatus, states.status(key_id, states.clock.now()))  # active/cooling/exhausted/invalid, typed str
    health = states.keys.get(key_id)
    if health is not None and status == "cooling":
        return status, health.cooldown_until
    if health is not None and status == "exhausted":
        return status, health.exhausted_until
    return status, None


def key_public(key: ProviderKey, provider_name: str, states: KeyStateStore) -> KeyPublic:
    health = states.keys.get(key.id or 0)
    status, until = live_status(states, key.id or 0, key.enabled)
    return KeyPublic(
        id=key.id or 0, provider_id=key.provider_id, provider=provider_name, label=key.label,
        secret_masked="…" + key.secret_last4, priority=key.priority, weight=key.weight, rpm=key.rpm, tpm=key.tpm,
        daily_tokens=key.daily_tokens, monthly_usd=micros_to_usd(key.monthly_usd_micros), enabled=key.enabled,
        status=status, status_until=to_datetime(until), last_error=health.last_error if health else None,
        last_error_at=to_datetime(health.last_error_at) if health else None,
        deployments=deployments_public(states, key.id or 0),
        created_at=key.created_at, updated_at=key.updated_at,
    )


def deployments_public(states: KeyStateStore, key_id: int) -> list[DeploymentPublic]:
    return [
        DeploymentPublic(
            model=d.model, status=cast(Literal["active", "cooling", "failing"], d.status), until=to_datetime(d.until),
            consecutive_failures=d.consecutive_failures, last_error=d.last_error, last_error_at=to_datetime(d.last_error_at),
        )
        for d in states.deployment_statuses(key_id, states.clock.now())
    ]


class PresetPublic(BaseModel):
    """An OpenAI-compatible service the catalog knows (``services.gateway.presets``): ``preset: <name>`` fills the rest."""

    name: str
    label: str
    kind: str = "openai_compatible"
    base_url: str
    key_required: bool
    refused: list[str] = Field(description="chat parameters the service refuses: the gateway refuses (or drops) them itself")
    note: str


def preset_views() -> list[PresetPublic]:
    return [PresetPublic(name=p.name, label=p.label, base_url=p.base_url, key_required=p.key_required, refused=list(p.refused), note=p.note)
            for p in PRESETS.values()]

"""Provider and key health: live state from memory (circuit, cooldowns, quota counters) plus
success rate, latency and time to first token over a recent window from the hourly rollups.

``live_status`` reads memory only, so ``GET /health`` stays cheap; ``provider_health`` adds the
statistics for the console's health page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, TypedDict

from sqlalchemy import case, func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.gateway.health import DeploymentStatus, UsageWindow
from services.gateway.key_state import KeyStateStore
from services.gateway.routing_table import KeyEntry, ProviderEntry, RoutingTable
from services.tables import ATTEMPT_ROLLUP_HOUR, USAGE_ROLLUP_HOUR
from services.usage.rollups import HOUR, LATENCY_COLUMNS, percentile

KEY_STATUSES = ("active", "cooling", "invalid", "exhausted", "disabled")
CircuitState = Literal["closed", "open", "half-open"]
ProviderStatus = Literal["ok", "degraded", "down", "disabled"]


class DeploymentLive(TypedDict):
    """A deployment (a key serving one upstream model) that is not serving right now."""

    key: str
    model: str
    status: str  # "cooling" (a 429) | "failing" (a run of errors)
    until: str  # ISO 8601, UTC


class ProviderLive(TypedDict):
    """One provider in ``live_status`` (and in ``GET /health``'s ``provider_status``)."""

    status: ProviderStatus
    kind: str
    circuit: CircuitState
    keys: dict[str, int]  # count per status in KEY_STATUSES
    deployments: list[DeploymentLive]


def circuit_state(states: KeyStateStore, provider_id: int, now: float) -> CircuitState:
    """closed, open (refusing calls) or half-open (the open period is over: one probe may pass)."""
    circuit = states.circuits.get(provider_id)
    if circuit is None or circuit.open_until == 0.0:
        return "closed"
    return "open" if now < circuit.open_until else "half-open"


def key_status(key: KeyEntry, states: KeyStateStore, now: float) -> str:
    return "disabled" if not key.enabled else states.status(key.id, now)


def _provider_status(provider: ProviderEntry, circuit: CircuitState, counts: dict[str, int], troubled: bool) -> ProviderStatus:
    usable = counts["active"] + counts["cooling"]
    if not provider.enabled:
        return "disabled"
    if circuit == "open" or usable == 0:
        return "down"
    if circuit == "half-open" or troubled or counts["cooling"] or counts["invalid"] or counts["exhausted"]:
        return "degraded"
    return "ok"


def troubled_deployments(keys: tuple[KeyEntry, ...], states: KeyStateStore, now: float) -> list[DeploymentLive]:
    found: list[DeploymentLive] = []
    for key in keys:
        for deployment in states.deployment_statuses(key.id, now):
            if deployment.status != "active" and deployment.until is not None:
                until = datetime.fromtimestamp(deployment.until, UTC).isoformat().replace("+00:00", "Z")
                found.append({"key": key.label, "model": deployment.model, "status": deployment.status, "until": until})
    return found


def live_status(table: RoutingTable, states: KeyStateStore, now: float) -> dict[str, ProviderLive]:
    """Per provider name: status (ok, degraded, down, disabled), circuit state, key counts and the
    deployments that are cooling or failing."""
    result: dict[str, ProviderLive] = {}
    for provider in sorted(table.providers.values(), key=lambda p: p.name):
        keys = table.keys_of(provider.id)
        counts = dict.fromkeys(KEY_STATUSES, 0)
        for key in keys:
            counts[key_status(key, states, now)] += 1
        deployments = troubled_deployments(keys, states, now)
        circuit = circuit_state(states, provider.id, now)
        result[provider.name] = {
            "status": _provider_status(provider, circuit, counts, bool(deployments)), "kind": provider.kind, "circuit": circuit,
            "keys": counts, "deployments": deployments,
        }
    return result


# -- statistics for the health page --------------------------------------------------------------


@dataclass(slots=True)
class CallStats:
    tried: int = 0
    failed: int = 0
    rate_limited: int = 0
    requests: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * len(LATENCY_COLUMNS))
    ttft_sum: float = 0.0
    ttft_count: int = 0

    @property
    def success_rate(self) -> float | None:
        return (self.tried - self.failed) / self.tried if self.tried else None

    @property
    def p50_ms(self) -> float | None:
        return percentile(self.histogram, 0.5)

    @property
    def p95_ms(self) -> float | None:
        return percentile(self.histogram, 0.95)

    @property
    def ttft_ms(self) -> float | None:
        return self.ttft_sum / self.ttft_count if self.ttft_count else None


@dataclass(frozen=True, slots=True)
class KeyHealthRow:
    key_id: int
    label: str
    status: str
    status_until: datetime | None
    stats: CallStats
    quota: list[str]  # e.g. "rpm 3/60", "tokens today 1,200/10,000"
    last_error: str | None
    last_error_at: datetime | None
    deployments: list[DeploymentStatus]  # the models this key served or failed, troubled ones first


@dataclass(frozen=True, slots=True)
class ProviderHealthRow:
    name: str
    kind: str
    status: ProviderStatus
    circuit: CircuitState
    consecutive_failures: int
    stats: CallStats
    keys: list[KeyHealthRow]


def _stats_by_key(engine: Engine, since: datetime) -> dict[tuple[str, int], CallStats]:
    start = int(since.timestamp()) // HOUR * HOUR
    stats: dict[tuple[str, int], CallStats] = {}
    attempts, usage = ATTEMPT_ROLLUP_HOUR, USAGE_ROLLUP_HOUR
    ok = usage.c.status == "ok"
    with Session(engine) as session:
        for provider, key_id, tried, failed, limited in session.execute(
            select(attempts.c.provider, attempts.c.key_id,
                   func.sum(attempts.c.tried), func.sum(attempts.c.failed), func.sum(attempts.c.rate_limited))
            .where(attempts.c.bucket >= start).group_by(attempts.c.provider, attempts.c.key_id)
        ):
            entry = stats.setdefault((provider, key_id), CallStats())
            entry.tried, entry.failed, entry.rate_limited = int(tried), int(failed), int(limited)
        for provider, key_id, requests, ttft_sum, ttft_count, *histogram in session.execute(
            select(usage.c.provider, usage.c.key_id, func.sum(usage.c.requests),
                   func.sum(case((ok, usage.c.ttft_ms_sum), else_=0)), func.sum(case((ok, usage.c.ttft_count), else_=0)),
                   *(func.sum(case((ok, usage.c[name]), else_=0)) for name in LATENCY_COLUMNS))
            .where(usage.c.bucket >= start, usage.c.provider != "").group_by(usage.c.provider, usage.c.key_id)
        ):
            entry = stats.setdefault((provider, key_id), CallStats())
            entry.requests, entry.ttft_sum, entry.ttft_count = int(requests), float(ttft_sum), int(ttft_count)
            entry.histogram = [int(v) for v in histogram]
    return stats


def _merge(parts: list[CallStats]) -> CallStats:
    total = CallStats()
    for part in parts:
        total.tried += part.tried
        total.failed += part.failed
        total.rate_limited += part.rate_limited
        total.requests += part.requests
        total.ttft_sum += part.ttft_sum
        total.ttft_count += part.ttft_count
        total.histogram = [a + b for a, b in zip(total.histogram, part.histogram, strict=True)]
    return total


def _quota(key: KeyEntry, states: KeyStateStore, now: float) -> list[str]:
    health = states.keys.get(key.id)
    usage = health.usage if health else UsageWindow()
    usage.roll(now)
    limits = key.limits
    parts = []
    if limits.rpm is not None:
        parts.append(f"rpm {len(usage.requests)}/{limits.rpm}")
    if limits.tpm is not None:
        parts.append(f"tpm {usage.window_tokens:,}/{limits.tpm:,}")
    if limits.daily_tokens is not None:
        parts.append(f"tokens today {usage.day_tokens:,}/{limits.daily_tokens:,}")
    if limits.monthly_usd_micros is not None:
        parts.append(f"month ${usage.month_cost_micros / 1e6:,.2f}/${limits.monthly_usd_micros / 1e6:,.2f}")
    return parts


def _until(states: KeyStateStore, key_id: int, status: str) -> datetime | None:
    health = states.keys.get(key_id)
    if health is None:
        return None
    moment = health.cooldown_until if status == "cooling" else health.exhausted_until if status == "exhausted" else None
    return datetime.fromtimestamp(moment, UTC) if moment else None


def provider_health(
    engine: Engine, table: RoutingTable, states: KeyStateStore, now: float, *, window: timedelta = timedelta(hours=24)
) -> list[ProviderHealthRow]:
    """Every provider with its keys: live state and the statistics of the last ``window``."""
    stats = _stats_by_key(engine, datetime.fromtimestamp(now, UTC) - window)
    live = live_status(table, states, now)
    rows = []
    for provider in sorted(table.providers.values(), key=lambda p: p.name):
        keys = []
        for key in table.keys_of(provider.id):
            status = key_status(key, states, now)
            health = states.keys.get(key.id)
            keys.append(KeyHealthRow(
                key.id, key.label, status, _until(states, key.id, status), stats.get((provider.name, key.id), CallStats()),
                _quota(key, states, now), health.last_error if health else None,
                datetime.fromtimestamp(health.last_error_at, UTC) if health and health.last_error_at else None,
                states.deployment_statuses(key.id, now),
            ))
        circuit = states.circuits.get(provider.id)
        rows.append(ProviderHealthRow(
            provider.name, provider.kind, live[provider.name]["status"], live[provider.name]["circuit"],
            circuit.consecutive_failures if circuit else 0,
            _merge([s for (name, _), s in stats.items() if name == provider.name]), keys,
        ))
    return rows

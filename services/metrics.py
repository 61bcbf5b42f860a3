"""Prometheus metrics: counters fed by every usage row, key and circuit gauges read at scrape time.

``observe_usage`` is called by the usage recorder for each request (the one place every request
is metered). Requested model names come from clients, so the ``model`` label is capped: after
``MAX_MODEL_LABELS`` distinct names, new ones are counted as ``other``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from services.key_state import KeyStateStore
from services.provider_health import live_status
from services.routing_table import RoutingTable

MAX_MODEL_LABELS = 200
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)
CONTENT_TYPE = CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter("llmhub_requests", "Gateway requests by served provider, requested model and outcome.",
                   ["provider", "model", "status"], registry=REGISTRY)
LATENCY = Histogram("llmhub_request_latency_seconds", "End-to-end request latency.", ["provider", "model"],
                    buckets=LATENCY_BUCKETS, registry=REGISTRY)
TTFT = Histogram("llmhub_time_to_first_token_seconds", "Time to the first streamed chunk.", ["provider", "model"],
                 buckets=LATENCY_BUCKETS, registry=REGISTRY)
TOKENS = Counter("llmhub_tokens", "Tokens metered, by kind (prompt or completion).", ["provider", "model", "kind"], registry=REGISTRY)
COST = Counter("llmhub_cost_usd", "Spend in US dollars (requests with an unknown price count 0).", ["provider", "model"], registry=REGISTRY)
ATTEMPTS = Counter("llmhub_upstream_attempts", "Upstream candidates per outcome (served, failed, skipped) and reason.",
                   ["provider", "outcome", "reason"], registry=REGISTRY)
COOLDOWNS = Counter("llmhub_cooldowns", "Keys put into cooldown by an upstream 429.", ["provider"], registry=REGISTRY)

_model_labels: set[str] = set()


def _model_label(model: str) -> str:
    if model in _model_labels:
        return model
    if len(_model_labels) >= MAX_MODEL_LABELS:
        return "other"
    _model_labels.add(model)
    return model


_children: dict[tuple[Any, tuple[str, ...]], Any] = {}


def _child(metric: Counter | Histogram, *labels: str) -> Any:
    """``metric.labels(*labels)``, looked up once: ``labels()`` checks its arguments and takes a lock
    on every call, and every request needs five or six of them."""
    key = (metric, labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def observe_usage(row: Mapping[str, Any]) -> None:
    """Count one request (a UsageRecord row as the gateway queues it)."""
    provider = row.get("provider_name") or "none"
    model = _model_label(str(row.get("requested_model") or ""))
    _child(REQUESTS, provider, model, row.get("status") or "ok").inc()
    _child(LATENCY, provider, model).observe((row.get("latency_ms") or 0.0) / 1000)
    if row.get("ttft_ms") is not None:
        _child(TTFT, provider, model).observe(row["ttft_ms"] / 1000)
    if row.get("prompt_tokens"):
        _child(TOKENS, provider, model, "prompt").inc(row["prompt_tokens"])
    if row.get("completion_tokens"):
        _child(TOKENS, provider, model, "completion").inc(row["completion_tokens"])
    if row.get("cost_micros"):
        _child(COST, provider, model).inc(row["cost_micros"] / 1_000_000)
    for attempt in row.get("attempts") or ():
        if attempt.get("outcome") not in ("served", "failed", "skipped"):
            continue
        attempt_provider = attempt.get("provider") or "none"
        _child(ATTEMPTS, attempt_provider, attempt["outcome"], attempt.get("reason") or "").inc()
        if attempt.get("reason") == "rate_limited":
            _child(COOLDOWNS, attempt_provider).inc()


def _state_registry(table: RoutingTable, states: KeyStateStore, now: float) -> CollectorRegistry:
    """Gauges of the key and circuit state right now (a fresh registry per scrape)."""
    registry = CollectorRegistry(auto_describe=True)
    keys = Gauge("llmhub_keys", "Provider keys by status (active, cooling, invalid, exhausted, disabled).",
                 ["provider", "status"], registry=registry)
    circuit = Gauge("llmhub_circuit_open", "1 while a provider's circuit breaker is open.", ["provider"], registry=registry)
    for provider, live in live_status(table, states, now).items():
        for status, count in live["keys"].items():
            keys.labels(provider, status).set(count)
        circuit.labels(provider).set(1 if live["circuit"] == "open" else 0)
    return registry


def exposition(table: RoutingTable, states: KeyStateStore, now: float) -> bytes:
    """The whole ``/metrics`` answer in Prometheus text format."""
    return generate_latest(REGISTRY) + generate_latest(_state_registry(table, states, now))

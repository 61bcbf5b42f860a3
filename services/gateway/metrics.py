"""Prometheus metrics: usage counters and histograms added up from the usage rows as they are
written, key and circuit gauges read at scrape time.

The usage recorder hands every written batch to ``USAGE_METRICS`` (the one place every request is
metered), so a scrape sees calls up to one batch round (0.25 s) late and never makes a write
itself. Requested model names come from clients, so the ``model`` label is capped: after
``MAX_MODEL_LABELS`` distinct names, new ones are counted as ``other``.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from itertools import accumulate
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from services.gateway.key_state import KeyStateStore
from services.gateway.provider_health import live_status
from services.gateway.routing_table import RoutingTable

MAX_MODEL_LABELS = 200
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)
BUCKET_BOUNDS = [*(str(float(bound)) for bound in LATENCY_BUCKETS), "+Inf"]
CONTENT_TYPE = CONTENT_TYPE_LATEST
ATTEMPT_OUTCOMES = ("served", "failed", "skipped")


class _CallStats:
    """What one (provider, requested model) pair added up since the process started."""

    __slots__ = ("by_status", "completion_tokens", "cost_micros", "latency", "latency_sum", "prompt_tokens", "ttft", "ttft_sum")

    def __init__(self) -> None:
        self.by_status: dict[str, int] = {}
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost_micros = 0
        self.latency = [0] * len(BUCKET_BOUNDS)  # per bucket, not yet cumulative
        self.latency_sum = 0.0
        self.ttft = [0] * len(BUCKET_BOUNDS)
        self.ttft_sum = 0.0


class UsageMetrics:
    """The request, token, cost, latency, attempt and cooldown metrics, a written batch at a time.

    prometheus_client's own Counter and Histogram take a lock and check their labels on every
    increment; the five or six a request needed were a measurable share of a gateway call's CPU. Here
    a batch is added up under one lock in the usage writer's thread, and the metric families are
    built when Prometheus scrapes.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, str], _CallStats] = {}
        self._attempts: dict[tuple[str, str, str], int] = {}
        self._cooldowns: dict[str, int] = {}
        self._model_labels: set[str] = set()

    def observe(self, rows: Iterable[Mapping[str, Any]]) -> None:
        with self._lock:
            for row in rows:
                self._observe(row)

    def _observe(self, row: Mapping[str, Any]) -> None:
        key = (row.get("provider_name") or "none", self._model_label(str(row.get("requested_model") or "")))
        stats = self._calls.get(key)
        if stats is None:
            stats = self._calls[key] = _CallStats()
        status = row.get("status") or "ok"
        stats.by_status[status] = stats.by_status.get(status, 0) + 1
        stats.prompt_tokens += row.get("prompt_tokens") or 0
        stats.completion_tokens += row.get("completion_tokens") or 0
        stats.cost_micros += row.get("cost_micros") or 0
        latency = (row.get("latency_ms") or 0.0) / 1000
        stats.latency[bisect_left(LATENCY_BUCKETS, latency)] += 1
        stats.latency_sum += latency
        if row.get("ttft_ms") is not None:
            ttft = row["ttft_ms"] / 1000
            stats.ttft[bisect_left(LATENCY_BUCKETS, ttft)] += 1
            stats.ttft_sum += ttft
        for attempt in row.get("attempts") or ():
            if attempt.get("outcome") in ATTEMPT_OUTCOMES:
                provider = attempt.get("provider") or "none"
                labels = (provider, attempt["outcome"], attempt.get("reason") or "")
                self._attempts[labels] = self._attempts.get(labels, 0) + 1
                if attempt.get("reason") == "rate_limited":
                    self._cooldowns[provider] = self._cooldowns.get(provider, 0) + 1

    def _model_label(self, model: str) -> str:
        if model in self._model_labels:
            return model
        if len(self._model_labels) >= MAX_MODEL_LABELS:
            return "other"
        self._model_labels.add(model)
        return model

    def collect(self) -> Iterator[Metric]:
        """The families as prometheus_client's registry asks for them (a custom collector)."""
        requests = CounterMetricFamily("llmhub_requests", "Gateway requests by served provider, requested model and outcome.",
                                       labels=["provider", "model", "status"])
        latency = HistogramMetricFamily("llmhub_request_latency_seconds", "End-to-end request latency.", labels=["provider", "model"])
        ttft = HistogramMetricFamily("llmhub_time_to_first_token_seconds", "Time to the first streamed chunk.",
                                     labels=["provider", "model"])
        tokens = CounterMetricFamily("llmhub_tokens", "Tokens metered, by kind (prompt or completion).",
                                     labels=["provider", "model", "kind"])
        cost = CounterMetricFamily("llmhub_cost_usd", "Spend in US dollars (requests with an unknown price count 0).",
                                   labels=["provider", "model"])
        attempts = CounterMetricFamily("llmhub_upstream_attempts", "Upstream candidates per outcome (served, failed, skipped) and reason.",
                                       labels=["provider", "outcome", "reason"])
        cooldowns = CounterMetricFamily("llmhub_cooldowns", "Keys put into cooldown by an upstream 429.", labels=["provider"])
        with self._lock:
            for (provider, model), stats in self._calls.items():
                for status, count in stats.by_status.items():
                    requests.add_metric([provider, model, status], count)
                latency.add_metric([provider, model], _cumulative(stats.latency), stats.latency_sum)
                if any(stats.ttft):
                    ttft.add_metric([provider, model], _cumulative(stats.ttft), stats.ttft_sum)
                for kind, count in (("prompt", stats.prompt_tokens), ("completion", stats.completion_tokens)):
                    if count:
                        tokens.add_metric([provider, model, kind], count)
                if stats.cost_micros:
                    cost.add_metric([provider, model], stats.cost_micros / 1_000_000)
            for labels, count in self._attempts.items():
                attempts.add_metric(list(labels), count)
            for provider, count in self._cooldowns.items():
                cooldowns.add_metric([provider], count)
        yield from (requests, latency, ttft, tokens, cost, attempts, cooldowns)


def _cumulative(counts: list[int]) -> list[tuple[str, float]]:
    return list(zip(BUCKET_BOUNDS, accumulate(counts), strict=True))


REGISTRY = CollectorRegistry(auto_describe=True)
USAGE_METRICS = UsageMetrics()
REGISTRY.register(USAGE_METRICS)


def _state_registry(table: RoutingTable, states: KeyStateStore, now: float) -> CollectorRegistry:
    """Gauges of the key and circuit state right now (a fresh registry per scrape)."""
    registry = CollectorRegistry(auto_describe=True)
    keys = Gauge("llmhub_keys", "Provider keys by status (active, cooling, invalid, exhausted, disabled).",
                 ["provider", "status"], registry=registry)
    deployments = Gauge("llmhub_deployments", "Deployments (a key serving one model) not serving: cooling after a 429, "
                        "or failing after a run of errors.", ["provider", "status"], registry=registry)
    circuit = Gauge("llmhub_circuit_open", "1 while a provider's circuit breaker is open.", ["provider"], registry=registry)
    for provider, live in live_status(table, states, now).items():
        for status, count in live["keys"].items():
            keys.labels(provider, status).set(count)
        for status in ("cooling", "failing"):
            deployments.labels(provider, status).set(sum(1 for d in live["deployments"] if d["status"] == status))
        circuit.labels(provider).set(1 if live["circuit"] == "open" else 0)
    return registry


def exposition(table: RoutingTable, states: KeyStateStore, now: float) -> bytes:
    """The whole ``/metrics`` answer in Prometheus text format."""
    return generate_latest(REGISTRY) + generate_latest(_state_registry(table, states, now))

"""The Prometheus usage metrics, added up from written usage rows and read the way Prometheus reads them."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from services.gateway.metrics import MAX_MODEL_LABELS, UsageMetrics


def row(**fields: Any) -> dict[str, Any]:
    base = {"provider_name": "emu", "requested_model": "smart", "status": "ok", "prompt_tokens": 10, "completion_tokens": 5,
            "cost_micros": 1500, "latency_ms": 80.0, "ttft_ms": None,
            "attempts": [{"provider": "emu", "outcome": "served", "reason": None}]}
    return {**base, **fields}


def scrape(metrics: UsageMetrics) -> list[str]:
    registry = CollectorRegistry()
    registry.register(metrics)
    return generate_latest(registry).decode().splitlines()


def test_counters_and_histograms_from_rows() -> None:
    metrics = UsageMetrics()
    failed = row(status="error", provider_name=None, cost_micros=None, attempts=[
        {"provider": "emu", "outcome": "failed", "reason": "rate_limited"},
        {"provider": "alt", "outcome": "skipped", "reason": "cooling"},
    ])
    metrics.observe([row(), row(latency_ms=300.0, ttft_ms=40.0), failed])
    lines = scrape(metrics)
    assert 'llmhub_requests_total{model="smart",provider="emu",status="ok"} 2.0' in lines
    assert 'llmhub_requests_total{model="smart",provider="none",status="error"} 1.0' in lines
    assert 'llmhub_tokens_total{kind="prompt",model="smart",provider="emu"} 20.0' in lines
    assert 'llmhub_cost_usd_total{model="smart",provider="emu"} 0.003' in lines
    assert not any(line.startswith('llmhub_cost_usd_total{model="smart",provider="none"}') for line in lines)  # unknown price: no spend
    # cumulative buckets: 80 ms falls under 0.1 s, 300 ms under 0.5 s
    assert 'llmhub_request_latency_seconds_bucket{le="0.05",model="smart",provider="emu"} 0.0' in lines
    assert 'llmhub_request_latency_seconds_bucket{le="0.1",model="smart",provider="emu"} 1.0' in lines
    assert 'llmhub_request_latency_seconds_bucket{le="0.5",model="smart",provider="emu"} 2.0' in lines
    assert 'llmhub_request_latency_seconds_bucket{le="+Inf",model="smart",provider="emu"} 2.0' in lines
    assert 'llmhub_request_latency_seconds_count{model="smart",provider="emu"} 2.0' in lines
    assert 'llmhub_request_latency_seconds_sum{model="smart",provider="emu"} 0.38' in lines
    assert 'llmhub_time_to_first_token_seconds_bucket{le="0.05",model="smart",provider="emu"} 1.0' in lines
    assert not any(line.startswith('llmhub_time_to_first_token_seconds_count{model="smart",provider="none"}') for line in lines)
    assert 'llmhub_upstream_attempts_total{outcome="served",provider="emu",reason=""} 2.0' in lines
    assert 'llmhub_upstream_attempts_total{outcome="skipped",provider="alt",reason="cooling"} 1.0' in lines
    assert 'llmhub_cooldowns_total{provider="emu"} 1.0' in lines


def test_a_latency_on_a_bucket_bound_counts_in_that_bucket() -> None:
    metrics = UsageMetrics()
    metrics.observe([row(latency_ms=100.0)])
    assert 'llmhub_request_latency_seconds_bucket{le="0.1",model="smart",provider="emu"} 1.0' in scrape(metrics)


def test_model_names_from_clients_are_capped() -> None:
    metrics = UsageMetrics()
    metrics.observe([row(requested_model=f"m{i}") for i in range(MAX_MODEL_LABELS + 5)])
    lines = [line for line in scrape(metrics) if line.startswith("llmhub_requests_total")]
    assert len(lines) == MAX_MODEL_LABELS + 1
    assert 'llmhub_requests_total{model="other",provider="emu",status="ok"} 5.0' in lines

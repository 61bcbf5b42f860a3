"""The failover tax on a hand-built usage table: extra calls by reason, added latency per affected
request, the cost of billed answers that broke, skips, and a key pool's headroom at its busiest minute."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from services.tables import Provider, ProviderKey
from services.usage.failover import failover_tax
from tests.factories import NOW, fresh_engine, usage_row, write_rows


def line(key: int, outcome: str, reason: str | None = None, ms: float | None = None, **extra: Any) -> dict[str, Any]:
    found = {"provider": "pool", "model": "m", "key_id": key, "key_label": f"k{key}", "outcome": outcome, **extra}
    return found | ({"reason": reason} if reason else {}) | ({"ms": ms} if ms is not None else {})


def test_extra_calls_added_latency_billed_breaks_and_pool_headroom(tmp_path: Path) -> None:
    engine = fresh_engine(tmp_path)
    with Session(engine) as session:
        provider = Provider(name="pool", kind="openai")
        session.add(provider)
        session.flush()
        a = ProviderKey(provider_id=provider.id or 0, label="a", secret_enc="-", secret_last4="0000", rpm=2, daily_tokens=5000)
        b = ProviderKey(provider_id=provider.id or 0, label="b", secret_enc="-", secret_last4="0000", rpm=3, daily_tokens=5000)
        session.add_all([a, b])
        session.commit()
        ka, kb = a.id or 0, b.id or 0

    def at(seconds: int, **fields: Any) -> dict[str, Any]:
        return usage_row(**{"created_at": NOW + timedelta(seconds=seconds), "provider_name": "pool", "upstream_model": "m", "key_id": kb,
                            **fields})

    write_rows(engine, [
        at(1, attempts=[line(ka, "failed", "rate_limited", 3.0, status=429), line(kb, "served", ms=200.0)]),
        at(10, attempts=[line(ka, "skipped", "cooling"), line(kb, "served", ms=200.0)]),
        at(20, provider_name=None, key_id=None, status="error", http_status=502, cost_micros=None, attempts=[
            line(ka, "failed", "upstream_5xx", 1000.0, backoff_ms=50.0), line(kb, "failed", "timeout", 2000.0),
            {"provider": "-", "model": "smart", "outcome": "waiting", "reason": "all_cooling", "backoff_ms": 500.0},
        ]),
        at(30, status="error", error_code="stream_broken", cost_micros=1234, attempts=[line(kb, "served", ms=900.0)]),
        *(at(40 + i, attempts=[line(kb, "served", ms=100.0)], prompt_tokens=400, completion_tokens=100) for i in range(3)),
        at(3600, attempts=[line(kb, "served", ms=100.0)]),
    ])
    tax = failover_tax(engine, NOW - timedelta(days=1), NOW + timedelta(days=1), requests=8)

    assert (tax["requests"], tax["affected_requests"], tax["extra_calls"], tax["billed_usd"]) == (8, 3, 3, 0.001234)
    assert tax["added_ms_per_affected_request"] == pytest.approx((3 + 0 + 3550) / 3, abs=0.1)
    keys = {entry["key"]: entry for entry in tax["by_key"]}
    assert keys[f"k{ka}"]["failed"] == {"rate_limited": 1, "upstream_5xx": 1}
    assert keys[f"k{ka}"]["skipped"] == {"cooling": 1}
    assert (keys[f"k{ka}"]["extra_calls"], keys[f"k{ka}"]["added_ms"], keys[f"k{ka}"]["affected_requests"]) == (2, 1003.0, 3)
    assert (keys[f"k{kb}"]["extra_calls"], keys[f"k{kb}"]["billed_usd"], keys[f"k{kb}"]["failed"]) == (1, 0.001234, {"timeout": 1})
    [provider_line] = tax["by_provider"]
    assert (provider_line["extra_calls"], provider_line["added_ms"], provider_line["skipped"]) == (3, 3003.0, {"cooling": 1})

    [pool] = tax["pools"]
    assert pool["limits"] == {"rpm": 5, "tpm": None, "daily_tokens": 10000}
    assert pool["peak"]["rpm"] == 6 and pool["peak"]["minute"] == "2026-11-14 12:30"  # six served calls in the busiest minute
    assert pool["peak"]["tpm"] == 3 * 15 + 3 * 500 and pool["peak"]["daily_tokens"] == 3 * 15 + 3 * 500 + 15
    assert pool["headroom"] == {"rpm": -0.2, "tpm": None, "daily_tokens": 0.844}
    assert pool["rate_limited"] == 1 and "120% of its 5 rpm" in pool["hint"] and "add a key or shift weight" in pool["hint"]


def test_a_quiet_window_has_no_tax_and_no_hint(tmp_path: Path) -> None:
    engine = fresh_engine(tmp_path)
    write_rows(engine, [usage_row()])
    tax = failover_tax(engine, NOW - timedelta(hours=1), NOW + timedelta(hours=1), requests=1)
    assert (tax["affected_requests"], tax["extra_calls"], tax["by_key"], tax["added_ms_per_affected_request"]) == (0, 0, [], None)
    assert tax["pools"] == []

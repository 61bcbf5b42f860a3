"""The routing what-if on hand-built usage tables: costs re-priced to the micro-dollar, simulated limits
that produce the expected 429s and failovers, recorded failures and cooldowns replayed, latency swapped
for the serving upstream's, and weights honoured over seeded draws."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from services.catalog.inputs import RouteIn
from services.errors import CatalogError
from services.gateway.pricing import Price, PriceTable
from services.gateway.routing_table import KeyEntry, ProviderEntry, RouteEntry, RoutingTable
from services.usage.replay import ReplayPolicy
from services.usage.rollups import bucket_edges, latency_bucket
from services.usage.whatif import WhatIfRequest, what_if
from tests.factories import NOW, fresh_engine, usage_row, write_rows

EMU = ProviderEntry(1, "emu", "openai", "http://emu.invalid/v1", True)
ALT = ProviderEntry(2, "alt", "openai", "http://alt.invalid/v1", True)
PRIMARY = KeyEntry(1, 1, "primary", "s1")
BACKUP = KeyEntry(2, 1, "backup", "s2", priority=2)
MAIN = KeyEntry(3, 2, "main", "s3")
TABLE = RoutingTable(
    {1: EMU, 2: ALT}, {"emu": EMU, "alt": ALT}, {1: (PRIMARY, BACKUP), 2: (MAIN,)},
    {"smart": (RouteEntry(EMU, "gpt-4o"),)}, aliases={"clever": "smart"},
)
PRICES = PriceTable({"openai": {"gpt-4o": Price(Decimal("2.5"), Decimal("10")), "gpt-4o-mini": Price(Decimal("0.15"), Decimal("0.6"))}})
LATER = NOW + timedelta(hours=1)


def served(provider: str = "emu", model: str = "gpt-4o", key_id: int = 1, ms: float = 190.0) -> dict[str, Any]:
    return {"provider": provider, "model": model, "key_id": key_id, "key_label": "k", "outcome": "served", "ms": ms}


def call(seconds: float, **fields: Any) -> dict[str, Any]:
    """A recorded call to `smart`, ``seconds`` after NOW."""
    return usage_row(created_at=NOW + timedelta(seconds=seconds), **fields)


def in_bucket_of(expected_ms: float, found: float | None) -> bool:
    """Latency percentiles come from the usage histogram: ``found`` lies in the bucket that holds ``expected_ms``."""
    low, high = bucket_edges(latency_bucket(expected_ms))
    return found is not None and low <= found <= high


def replay(engine: Engine, routes: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    return what_if(engine, TABLE, PRICES, WhatIfRequest.model_validate({"model": "smart", "routes": routes}), now=LATER, **options)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return fresh_engine(tmp_path)


def test_every_call_is_repriced_at_the_proposed_price_to_the_micro_dollar(engine: Engine) -> None:
    write_rows(engine, [
        call(0, prompt_tokens=1000, completion_tokens=500, cost_micros=7500),
        call(60, prompt_tokens=1234, completion_tokens=567, cost_micros=8755, requested_model="clever"),  # an alias of smart
        call(-86400, prompt_tokens=7, completion_tokens=3, cost_micros=48),
        call(120, requested_model="fast", cost_micros=999),  # another model
        call(180, attempts=[], provider_name=None, http_status=429, status="error", cost_micros=None),  # refused before routing
    ])
    answer = replay(engine, [{"provider": "alt", "model": "cheap-1", "price": {"input": "0.15", "output": "0.6"}}])
    # 1000·0.15 + 500·0.6 = 450; 1234·0.15 + 567·0.6 = 525.3 → 525; 7·0.15 + 3·0.6 = 2.85 → 3 (micro-dollars)
    assert answer["requests"] == 3
    assert answer["baseline"]["cost_usd"] == 0.016303 and answer["proposed"]["cost_usd"] == 0.000978
    assert answer["delta_cost_usd"] == -0.015325
    assert answer["proposed"]["unpriced"] == 0 and answer["proposed"]["failovers"] == 0
    [line] = answer["by_route"]
    assert (line["provider"], line["model"], line["requests"], line["share"], line["cost_usd"]) == ("alt", "cheap-1", 3, 1.0, 0.000978)
    assert line["baseline_requests"] == 0
    days = {d["day"]: (d["baseline_usd"], d["proposed_usd"]) for d in answer["daily"]}
    assert days["2026-11-14"] == (0.016255, 0.000975) and days["2026-11-13"] == (0.000048, 0.000003)
    assert len(answer["daily"]) == 31 and answer["since"] == "2026-10-15T13:30:00Z"

    table_price = replay(engine, [{"provider": "alt", "model": "gpt-4o-mini"}])  # the price table's price
    assert table_price["proposed"]["cost_usd"] == 0.000978
    unknown = replay(engine, [{"provider": "alt", "model": "no-price-known"}])
    assert unknown["proposed"]["unpriced"] == 3 and unknown["proposed"]["cost_usd"] == 0
    assert unknown["by_route"][0]["unpriced"] == 3


def test_a_key_rpm_limit_turns_the_excess_into_429s_then_into_failovers(engine: Engine) -> None:
    write_rows(engine, [call(second) for second in range(5)] + [call(61)])
    limited = [{"provider": "emu", "model": "gpt-4o", "keys": ["primary"], "rpm": 2}]
    alone = replay(engine, limited)
    assert alone["proposed"]["rate_limited"] == 3 and alone["proposed"]["failovers"] == 3
    assert alone["by_route"][0]["requests"] == 3 and alone["by_route"][0]["skipped"] == 3  # the sixth call: a new minute
    assert alone["baseline"]["rate_limited"] == 0

    with_fallback = replay(engine, [*limited, {"provider": "alt", "model": "gpt-4o", "priority": 2}])
    assert with_fallback["proposed"]["rate_limited"] == 0 and with_fallback["proposed"]["failovers"] == 3
    assert [line["requests"] for line in with_fallback["by_route"]] == [3, 3]


def test_a_limit_that_frees_up_within_the_wait_budget_waits_instead(engine: Engine) -> None:
    write_rows(engine, [call(0, latency_ms=200.0), call(59, latency_ms=200.0)])
    answer = replay(engine, [{"provider": "emu", "model": "gpt-4o", "keys": ["primary"], "rpm": 1}])
    assert answer["proposed"]["rate_limited"] == 0 and answer["by_route"][0]["requests"] == 2
    assert in_bucket_of(1200, answer["proposed"]["p95_ms"])  # 200 ms, and the second call waits 1 s for the minute to end
    short = replay(engine, [{"provider": "emu", "model": "gpt-4o", "keys": ["primary"], "rpm": 1}], policy=ReplayPolicy(wait_budget=0.5))
    assert short["proposed"]["rate_limited"] == 1


def test_a_recorded_429_fails_again_and_cools_the_deployment_down(engine: Engine) -> None:
    failed = {"provider": "emu", "model": "gpt-4o", "key_id": 1, "key_label": "primary", "outcome": "failed",
              "reason": "rate_limited", "status": 429, "ms": 3.0}
    write_rows(engine, [
        call(0, key_id=2, attempts=[failed, served(key_id=2)]),
        call(10, attempts=[served()]),
        call(45, attempts=[served()]),
    ])
    both_keys = replay(engine, [{"provider": "emu", "model": "gpt-4o"}, {"provider": "alt", "model": "gpt-4o", "priority": 2}])
    assert both_keys["baseline"]["failovers"] == 1
    # the first call's 429 on primary happens again; primary then cools for the default 30 s, so the call
    # at +10 s goes to the backup key, and the one at +45 s is back on primary
    assert both_keys["proposed"]["failovers"] == 2 and both_keys["by_route"][0]["failed_attempts"] == 1
    only_primary = replay(engine, [{"provider": "emu", "model": "gpt-4o", "keys": ["primary"]}])
    assert only_primary["proposed"]["rate_limited"] == 2 and only_primary["by_route"][0]["requests"] == 1


def test_latency_is_swapped_for_the_serving_upstreams(engine: Engine) -> None:
    write_rows(engine, [
        call(0, latency_ms=500.0, attempts=[served(ms=480.0)]),
        *(call(10 + i, requested_model="other", provider_name="alt", upstream_model="gpt-4o-mini", latency_ms=ms,
               attempts=[served("alt", "gpt-4o-mini", 3, ms)]) for i, ms in enumerate((900.0, 1000.0, 5000.0))),
    ])
    moved = replay(engine, [{"provider": "alt", "model": "gpt-4o-mini"}])
    assert in_bucket_of(1020, moved["proposed"]["p50_ms"])  # 500 − 480 + the median 1000
    assert in_bucket_of(500, moved["baseline"]["p50_ms"]) and not in_bucket_of(500, moved["proposed"]["p50_ms"])
    never_seen = replay(engine, [{"provider": "alt", "model": "new-model"}])
    assert never_seen["by_route"][0]["estimated_latency"] == 1 and in_bucket_of(500, never_seen["proposed"]["p50_ms"])


def test_weights_are_honoured_within_a_tolerance_and_the_draws_are_seeded(engine: Engine) -> None:
    write_rows(engine, [call(i * 2) for i in range(2000)])
    routes = [{"provider": "emu", "model": "gpt-4o", "weight": 3}, {"provider": "alt", "model": "gpt-4o", "weight": 1}]
    first = replay(engine, routes)
    shares = [line["share"] for line in first["by_route"]]
    assert shares[0] == pytest.approx(0.75, abs=0.03) and shares[1] == pytest.approx(0.25, abs=0.03)
    assert replay(engine, routes) == first
    other_seed = replay(engine, routes, seed=99)
    assert other_seed["by_route"] != first["by_route"] and other_seed["by_route"][0]["share"] == pytest.approx(0.75, abs=0.03)


def test_bad_proposals_are_refused_naming_the_field(engine: Engine) -> None:
    with pytest.raises(CatalogError) as unknown_provider:
        replay(engine, [{"provider": "nope", "model": "x"}])
    assert unknown_provider.value.field == "routes[0].provider"
    with pytest.raises(CatalogError) as unknown_key:
        replay(engine, [{"provider": "emu", "model": "x", "keys": ["primary", "ghost"]}])
    assert unknown_key.value.field == "routes[0].keys" and "ghost" in unknown_key.value.message
    with pytest.raises(CatalogError) as unknown_model:
        what_if(engine, TABLE, PRICES, WhatIfRequest(model="dumb", routes=[RouteIn(provider="emu", model="x")]), now=LATER)
    assert unknown_model.value.status == 404


def test_the_limits_of_a_route_are_counted_per_key(engine: Engine) -> None:
    write_rows(engine, [call(second) for second in range(4)])
    answer = replay(engine, [{"provider": "emu", "model": "gpt-4o", "rpm": 2}])  # two keys: two calls a minute each
    assert answer["proposed"]["rate_limited"] == 0 and answer["by_route"][0]["requests"] == 4


def test_tpm_and_daily_token_limits_count_the_replayed_tokens(engine: Engine) -> None:
    write_rows(engine, [call(second) for second in range(3)] + [call(120 + second) for second in range(3)])  # 15 tokens each
    per_minute = replay(engine, [{"provider": "emu", "model": "gpt-4o", "keys": ["primary"], "tpm": 20}])
    # a minute admits calls while it holds fewer than 20 tokens: two of each burst, the third is a 429
    assert (per_minute["by_route"][0]["requests"], per_minute["proposed"]["rate_limited"]) == (4, 2)
    per_day = replay(engine, [{"provider": "emu", "model": "gpt-4o", "keys": ["primary"], "daily_tokens": 40}])
    # the day's tokens run out after three calls; that does not end by itself, so the rest fail (502, as the router answers)
    assert (per_day["by_route"][0]["requests"], per_day["proposed"]["failed"], per_day["proposed"]["rate_limited"]) == (3, 3, 0)

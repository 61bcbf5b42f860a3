"""Router decisions with an injected clock and scripted adapters: no sleeping, no network."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict

import pytest

from services.errors import ErrorKind, GatewayError, UpstreamError
from services.gateway.health import SkipReason
from services.gateway.router import MAX_PLANS
from services.gateway.routing_table import RouteEntry, RoutingTable
from services.gateway.trail import Attempt
from tests.gateway.scripted import PLAIN_ROUTE, build, fail, key, rate_limited, run, skip_reason


async def test_priority_order_first_route_serves() -> None:
    router, _, _, _ = build({"a": [key(1, 1, "a1")], "b": [key(2, 2, "b1")]}, [("b", 2, 1), ("a", 1, 1)], {})
    result, trail = await run(router)
    assert result["served_by"] == "a1"
    assert [a.outcome for a in trail.attempts] == ["served"]


@pytest.mark.parametrize(
    "error",
    [
        rate_limited(),
        fail(ErrorKind.AUTH, 401),
        fail(ErrorKind.QUOTA_EXHAUSTED, 429),
        fail(ErrorKind.UPSTREAM_5XX, 500),
        fail(ErrorKind.TIMEOUT),
        fail(ErrorKind.CONNECTION),
    ],
    ids=lambda e: e.kind.value,
)
async def test_failover_on_each_retryable_class(error: UpstreamError) -> None:
    router, adapter, _, _ = build({"a": [key(1, 1, "a1")], "b": [key(2, 2, "b1")]}, [("a", 1, 1), ("b", 2, 1)], {"a1": [error]})
    result, trail = await run(router)
    assert result["served_by"] == "b1"
    assert trail.attempts[0].outcome == "failed" and trail.attempts[0].reason == error.kind.value
    assert adapter.calls == ["a1", "b1"]


async def test_backoff_only_for_server_side_failures() -> None:
    providers = {"a": [key(1, 1, "a1")], "b": [key(2, 2, "b1")]}
    router, _, clock, _ = build(providers, [("a", 1, 1), ("b", 2, 1)], {"a1": [fail(ErrorKind.UPSTREAM_5XX, 503)]})
    _, trail = await run(router)
    assert len(clock.slept) == 1 and 0.02 <= clock.slept[0] <= 0.08
    assert trail.attempts[0].backoff_ms is not None
    router, _, clock, _ = build(providers, [("a", 1, 1), ("b", 2, 1)], {"a1": [rate_limited()]})
    await run(router)
    assert clock.slept == []


@pytest.mark.parametrize(
    ("kind", "code"),
    [(ErrorKind.BAD_REQUEST, "upstream_bad_request"), (ErrorKind.CONTEXT_TOO_LONG, "context_length_exceeded")],
)
async def test_client_errors_return_at_once(kind: ErrorKind, code: str) -> None:
    router, adapter, _, _ = build({"a": [key(1, 1, "a1")], "b": [key(2, 2, "b1")]}, [("a", 1, 1), ("b", 2, 1)], {"a1": [fail(kind, 400)]})
    with pytest.raises(GatewayError) as caught:
        await run(router)
    assert caught.value.status == 400 and caught.value.code == code
    assert adapter.calls == ["a1"]


async def test_cooldown_honours_retry_after_and_expires() -> None:
    primary_then_spare = {"a": [key(1, 1, "a1"), key(2, 1, "a2", priority=2)]}
    router, _, clock, _ = build(primary_then_spare, [("a", 1, 1)], {"a1": [rate_limited(12), "ok"]})
    result, _ = await run(router)
    assert result["served_by"] == "a2"
    _, trail = await run(router)
    assert trail.attempts[0].outcome == "skipped" and trail.attempts[0].reason == SkipReason.COOLING
    clock.t += 12.5
    result, _ = await run(router)
    assert result["served_by"] == "a1"


async def test_default_cooldown_when_no_retry_after() -> None:
    router, _, clock, states = build({"a": [key(1, 1, "a1"), key(2, 1, "a2", priority=2)]}, [("a", 1, 1)], {"a1": [rate_limited(None)]})
    await run(router)
    assert states.deployment((1, "a-model")).cooldown_until == pytest.approx(clock.t + 30)
    assert states.health(1).cooldown_until == 0.0  # the key's other models are not cooled


async def test_all_cooling_waits_for_short_recovery() -> None:
    router, _, clock, _ = build({"a": [key(1, 1, "a1")]}, [("a", 1, 1)], {"a1": [rate_limited(1.5), "ok"]})
    result, trail = await run(router)
    assert result["served_by"] == "a1"
    assert clock.slept == [pytest.approx(1.5)]
    assert [a.outcome for a in trail.attempts] == ["failed", "waiting", "served"]


async def test_all_cooling_answers_429_with_retry_after() -> None:
    router, _, _, _ = build(
        {"a": [key(1, 1, "a1")], "b": [key(2, 2, "b1")]}, [("a", 1, 1), ("b", 1, 1)], {"a1": [rate_limited(40)], "b1": [rate_limited(25)]}
    )
    with pytest.raises(GatewayError) as caught:
        await run(router)
    assert caught.value.status == 429 and caught.value.retry_after == 25 and caught.value.code == "all_keys_cooling"


async def test_all_dead_answers_502() -> None:
    router, adapter, _, _ = build(
        {"a": [key(1, 1, "a1"), key(2, 1, "a2", enabled=False)]}, [("a", 1, 1)], {"a1": [fail(ErrorKind.AUTH, 401)]}
    )
    with pytest.raises(GatewayError) as caught:
        await run(router)
    assert caught.value.status == 502 and caught.value.code == "all_upstreams_failed"
    with pytest.raises(GatewayError) as caught:
        await run(router)
    assert caught.value.status == 502 and caught.value.code == "no_healthy_upstream"
    assert adapter.calls == ["a1"]


async def test_invalid_key_stays_out_until_reset() -> None:
    primary_then_spare = {"a": [key(1, 1, "a1"), key(2, 1, "a2", priority=2)]}
    router, _, clock, states = build(primary_then_spare, [("a", 1, 1)], {"a1": [fail(ErrorKind.AUTH, 401), "ok"]})
    await run(router)
    clock.t += 3600
    result, trail = await run(router)
    assert result["served_by"] == "a2" and trail.attempts[0].reason == SkipReason.INVALID
    states.reset_key(1)
    result, _ = await run(router)
    assert result["served_by"] == "a1"


async def test_exhausted_key_returns_after_window() -> None:
    primary_then_spare = {"a": [key(1, 1, "a1"), key(2, 1, "a2", priority=2)]}
    router, _, clock, _ = build(primary_then_spare, [("a", 1, 1)], {"a1": [fail(ErrorKind.QUOTA_EXHAUSTED, 429), "ok"]})
    await run(router)
    assert skip_reason(router, router._table().keys_of(1)[0], clock.t) == SkipReason.EXHAUSTED
    clock.t += 86_400
    result, _ = await run(router)
    assert result["served_by"] == "a1"


async def test_quota_skips_rpm_tpm_daily_monthly() -> None:
    keys = [key(1, 1, "a1", rpm=2), key(2, 1, "a2", priority=2)]
    router, _, clock, states = build({"a": keys}, [("a", 1, 1)], {})
    assert [(await run(router))[0]["served_by"] for _ in range(3)] == ["a1", "a1", "a2"]
    clock.t += 61
    assert (await run(router))[0]["served_by"] == "a1"
    limits = [
        ({"tpm": 100}, SkipReason.OVER_TPM),
        ({"daily_tokens": 100}, SkipReason.OVER_DAILY_TOKENS),
        ({"monthly_usd_micros": 500}, SkipReason.OVER_MONTHLY_BUDGET),
    ]
    for limit, reason in limits:
        limited = key(3, 1, "a3", **limit)
        states.note_usage(3, PLAIN_ROUTE, 150, 600, clock.t)
        assert skip_reason(router, limited, clock.t) == reason


def test_tpm_window_slides_with_the_minute() -> None:
    router, _, clock, states = build({"a": [key(1, 1, "a1")]}, [("a", 1, 1)], {})
    limited = key(1, 1, "a1", tpm=100)
    states.note_usage(1, PLAIN_ROUTE, 60, None, clock.t)
    clock.t += 30
    states.note_usage(1, PLAIN_ROUTE, 50, None, clock.t)
    assert skip_reason(router, limited, clock.t) == SkipReason.OVER_TPM
    clock.t += 31  # the first call's 60 tokens leave the window, the second's 50 stay
    assert skip_reason(router, limited, clock.t) is None
    assert states.keys[1].usage.window_tokens == 50
    clock.t += 30
    assert skip_reason(router, limited, clock.t) is None and states.keys[1].usage.window_tokens == 0


async def test_circuit_opens_then_half_open_probe_closes_it() -> None:
    """Connection failures are the provider's as a whole: three in a row open its circuit."""
    keys = [key(i, 1, f"a{i}") for i in (1, 2, 3, 4)]
    script = {f"a{i}": [fail(ErrorKind.CONNECTION), "ok"] for i in (1, 2, 3)}
    router, _, clock, states = build({"a": keys, "b": [key(9, 2, "b9")]}, [("a", 1, 1), ("b", 2, 1)], script)
    result, trail = await run(router)
    assert result["served_by"] == "b9"
    assert [a.reason for a in trail.attempts if a.outcome == "skipped"] == [SkipReason.CIRCUIT_OPEN]
    clock.t += 5
    _, trail = await run(router)
    assert {a.reason for a in trail.attempts if a.outcome == "skipped"} == {SkipReason.CIRCUIT_OPEN}
    clock.t += 20
    result, trail = await run(router)
    assert result["served_by"].startswith("a") and trail.attempts[0].outcome == "served"
    assert states.circuit(1).consecutive_failures == 0


async def test_half_open_allows_one_probe_at_a_time() -> None:
    router, _, clock, states = build({"a": [key(1, 1, "a1")]}, [("a", 1, 1)], {})
    for _ in range(3):
        states.on_failure(router._table().keys_of(1)[0], "a-model", fail(ErrorKind.CONNECTION), clock.t)
    assert not states.circuit_allows(1, clock.t)
    clock.t += 21
    assert states.circuit_allows(1, clock.t)
    assert not states.circuit_allows(1, clock.t)


async def test_weights_split_traffic_within_a_priority() -> None:
    router, _, _, _ = build({"a": [key(1, 1, "a1")], "b": [key(2, 2, "b1")]}, [("a", 1, 3), ("b", 1, 1)], {})
    counts = Counter([(await run(router))[0]["served_by"] for _ in range(800)])
    assert 0.68 < counts["a1"] / 800 < 0.82


async def test_keys_rotate_by_weight() -> None:
    router, _, _, _ = build({"a": [key(1, 1, "a1", weight=1), key(2, 1, "a2", weight=3)]}, [("a", 1, 1)], {})
    counts = Counter([(await run(router))[0]["served_by"] for _ in range(800)])
    assert 0.68 < counts["a2"] / 800 < 0.82  # 3 : 1, seeded; an order that ignored weights would give a2 half


async def test_three_routes_share_traffic_by_weight() -> None:
    """Three or more items take the sampling keys rather than the two-item draw."""
    providers = {"a": [key(1, 1, "a1")], "b": [key(2, 2, "b1")], "c": [key(3, 3, "c1")]}
    router, _, _, _ = build(providers, [("a", 1, 6), ("b", 1, 3), ("c", 1, 1)], {})
    counts = Counter([(await run(router))[0]["served_by"] for _ in range(1000)])
    assert 0.52 < counts["a1"] / 1000 < 0.68 and 0.22 < counts["b1"] / 1000 < 0.38 and counts["c1"] < 160


async def test_attempt_budget_limits_tries() -> None:
    keys = [key(i, 1, f"a{i}") for i in range(1, 8)]
    router, adapter, _, _ = build({"a": keys}, [("a", 1, 1)], {f"a{i}": [fail(ErrorKind.CONNECTION)] for i in range(1, 8)}, max_attempts=3)
    with pytest.raises(GatewayError) as caught:
        await run(router)
    assert caught.value.status == 502 and len(adapter.calls) == 3


async def test_unknown_model_and_concrete_names() -> None:
    router, _, _, _ = build({"a": [key(1, 1, "a1")]}, [("a", 1, 1)], {})
    with pytest.raises(GatewayError) as caught:
        await run(router, "nope")
    assert caught.value.status == 404 and caught.value.code == "model_not_found"
    result, _ = await run(router, "a/some/model-with-slash")
    assert result["model"] == "some/model-with-slash"


async def test_route_plans_follow_the_routing_table_and_stay_bounded() -> None:
    router, _, _, _ = build({"a": [key(1, 1, "k1")], "b": [key(2, 2, "k2")]}, [("a", 1, 1)], {})
    assert [c.key.secret for c in router.route_candidates("smart") or ()] == ["k1"]
    assert router.route_candidates("nope") is None and router.route_candidates("b/any-model") is not None
    for n in range(MAX_PLANS + 10):  # clients choose concrete names: the plans kept must not grow without end
        router.route_candidates(f"b/model-{n}")
    assert len(router._plans) <= MAX_PLANS
    cached = router.plan("smart")
    assert router.plan("smart") is cached  # worked out once per table
    table = router._table()
    swapped = RoutingTable(table.providers, table.providers_by_name, table.keys_by_provider,
                           {"smart": (RouteEntry(table.providers_by_name["b"], "b-model"),)})
    router._table = lambda: swapped
    assert [c.key.secret for c in router.route_candidates("smart") or ()] == ["k2"]  # a new table, a new plan
    assert router.plan("smart") is not cached


@pytest.mark.parametrize("attempt", [
    Attempt("emu", "gpt-4o", 3, "primary", "served", ms=12.5),
    Attempt("emu", "gpt-4o", 3, "primary", "failed", reason="upstream_5xx", status=503, error="busy", ms=4.0, backoff_ms=61.2),
    Attempt("-", "smart", None, None, "waiting", reason="all_cooling", backoff_ms=800.0),
])
def test_attempt_line_is_its_fields_without_the_empty_ones(attempt: Attempt) -> None:
    expected = {name: value for name, value in asdict(attempt).items() if value is not None}
    assert attempt.as_dict() == expected and list(attempt.as_dict()) == list(expected)


def test_a_candidate_never_shows_its_secret() -> None:
    """Candidates live on in the call's trail; a repr in a log line or a traceback must not carry the key."""
    router, _, _, _ = build({"a": [key(1, 1, "sk-do-not-show")]}, [("a", 1, 1)], {})
    candidate = router.route_candidates("smart")[0]
    assert candidate.target.api_key == "sk-do-not-show" and "sk-do-not-show" not in repr(candidate)

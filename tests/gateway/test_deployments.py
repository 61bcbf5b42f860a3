"""Per-deployment routing: state kept per (key, model), routes with their own keys, limits and tags,
context-window fallbacks, wildcard models and aliases, per-model retries, and which failures open a
provider's circuit. Injected clock, scripted adapter: no sleeping, no network."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.errors import ErrorKind, GatewayError
from services.gateway.health import SkipReason
from services.gateway.key_state import KeyStateStore, StateRows
from services.gateway.router import RequestFacts
from services.gateway.routing_table import (
    KEYLESS_LABEL,
    Limits,
    ModelSettings,
    RouteEntry,
    RoutingTable,
    keyless_key,
)
from tests.factories import FakeClock
from tests.gateway.scripted import fail, key, providers_of, rate_limited, refused_attempts, run, stage

P = providers_of(["a", "b"])


def route(provider: str, model: str, **fields: object) -> RouteEntry:
    return RouteEntry(P[provider], model, **fields)  # type: ignore[arg-type]


async def test_a_429_for_one_model_leaves_the_keys_other_models_serving() -> None:
    models = {"big": (route("a", "gpt-4o"),), "small": (route("a", "gpt-4o-mini"),)}
    router, adapter, clock, states = stage({"a": [key(1, 1, "k1")]}, models, {"k1@gpt-4o": [rate_limited(30), "ok"]})
    with pytest.raises(GatewayError) as caught:
        await run(router, "big")
    assert caught.value.status == 429 and caught.value.code == "all_keys_cooling" and caught.value.retry_after == 30
    served, trail = await run(router, "small")
    assert served == {"served_by": "k1", "model": "gpt-4o-mini"} and [a.outcome for a in trail.attempts] == ["served"]
    assert states.deployment((1, "gpt-4o")).cooldown_until == pytest.approx(clock.t + 30)
    assert (1, "gpt-4o-mini") not in states.deployments or states.deployment((1, "gpt-4o-mini")).cooldown_until == 0.0
    assert [(d.model, d.status) for d in states.deployment_statuses(1, clock.t)] == [("gpt-4o", "cooling")]
    clock.t += 31
    assert (await run(router, "big"))[0]["model"] == "gpt-4o"
    assert adapter.calls == ["k1", "k1", "k1"]


async def test_a_run_of_5xx_on_one_model_rests_that_deployment_not_the_provider() -> None:
    models = {"big": (route("a", "gpt-4o"),), "small": (route("a", "gpt-4o-mini"),)}
    router, _, clock, states = stage({"a": [key(1, 1, "k1")]}, models, {"k1@gpt-4o": [fail(ErrorKind.UPSTREAM_5XX, 500)]})
    for _ in range(3):  # the stage's threshold
        with pytest.raises(GatewayError):
            await run(router, "big")
    _, trail = await run(router, "small")
    assert trail.attempts[-1].outcome == "served"
    assert states.circuit_allows(1, clock.t), "one model failing is not the provider failing"
    with pytest.raises(GatewayError) as caught:
        await run(router, "big")
    assert caught.value.status == 502 and caught.value.code == "no_healthy_upstream" and caught.value.retry_after == 20
    assert [a.reason for a in await refused_attempts(router, "big")] == [SkipReason.FAILING]
    clock.t += 21
    assert states.skip_reason(key(1, 1, "k1"), route("a", "gpt-4o"), (1, "gpt-4o"), clock.t) is None


async def test_failures_across_models_open_the_providers_circuit() -> None:
    models = {"big": (route("a", "gpt-4o"), route("b", "other", priority=2)), "small": (route("a", "gpt-4o-mini"),)}
    script = {"k1@gpt-4o": [fail(ErrorKind.UPSTREAM_5XX, 500)], "k1@gpt-4o-mini": [fail(ErrorKind.TIMEOUT)]}
    router, _, clock, states = stage({"a": [key(1, 1, "k1")], "b": [key(2, 2, "k2")]}, models, script)
    await run(router, "big")
    with pytest.raises(GatewayError):
        await run(router, "small")
    await run(router, "big")
    assert not states.circuit_allows(1, clock.t)
    served, trail = await run(router, "big")
    assert served["served_by"] == "k2" and trail.attempts[0].reason == SkipReason.CIRCUIT_OPEN


async def test_an_open_circuit_answers_502_with_retry_after_not_429() -> None:
    router, _, _, _ = stage({"a": [key(1, 1, "k1")]}, {"smart": (route("a", "m"),)}, {"k1": [fail(ErrorKind.CONNECTION)]})
    for _ in range(3):
        with pytest.raises(GatewayError):
            await run(router)
    with pytest.raises(GatewayError) as caught:
        await run(router)
    assert (caught.value.status, caught.value.code, caught.value.retry_after) == (502, "no_healthy_upstream", 20)


@pytest.mark.parametrize("kind", [ErrorKind.BAD_REQUEST, ErrorKind.CONTEXT_TOO_LONG])
async def test_a_callers_bad_request_never_counts_against_a_key_or_provider(kind: ErrorKind) -> None:
    router, _, clock, states = stage({"a": [key(1, 1, "k1")]}, {"smart": (route("a", "m"),)}, {"k1": [fail(kind, 400)]})
    for _ in range(10):
        with pytest.raises(GatewayError) as caught:
            await run(router)
        assert caught.value.status == 400
    assert states.circuit_allows(1, clock.t) and (1, "m") not in states.deployments and 1 not in states.keys


async def test_route_limits_count_per_route_and_key_independently() -> None:
    """Two routes share one key: the one with rpm 1 stops, the other goes on."""
    models = {"slow": (route("a", "m1", id=1, limits=Limits(rpm=1)),), "fast": (route("a", "m2", id=2, limits=Limits(rpm=1000)),)}
    router, _, clock, states = stage({"a": [key(1, 1, "k1")]}, models, {})
    await run(router, "slow")
    with pytest.raises(GatewayError) as caught:
        await run(router, "slow")
    assert caught.value.status == 429
    for _ in range(20):
        await run(router, "fast")
    assert (len(states.routes[(1, 1)].requests), len(states.routes[(2, 1)].requests)) == (1, 20)
    clock.t += 61
    assert (await run(router, "slow"))[0]["model"] == "m1"


async def test_route_token_limits_and_their_recovery_reasons() -> None:
    limited = route("a", "m", id=7, limits=Limits(tpm=100, daily_tokens=1000, monthly_usd_micros=50))
    states = KeyStateStore(FakeClock())
    now = states.clock.now()
    k1 = key(1, 1, "k1")
    states.note_usage(1, limited, 150, 60, now)
    assert states.skip_reason(k1, limited, (1, "m"), now) == SkipReason.ROUTE_OVER_TPM
    assert states.recovery_time(k1, limited, (1, "m"), SkipReason.ROUTE_OVER_TPM) == pytest.approx(now + 60)
    assert states.skip_reason(k1, replace(limited, limits=Limits(daily_tokens=100)), (1, "m"), now) == SkipReason.ROUTE_OVER_DAILY_TOKENS
    monthly = replace(limited, limits=Limits(monthly_usd_micros=50))
    assert states.skip_reason(k1, monthly, (1, "m"), now) == SkipReason.ROUTE_OVER_MONTHLY_BUDGET
    assert states.skip_reason(key(2, 1, "k2"), limited, (2, "m"), now) is None  # counted per key


async def test_a_route_uses_only_its_own_keys() -> None:
    keys = [key(1, 1, "k1"), key(2, 1, "k2")]
    labelled = route("a", "m", key_labels=frozenset({"label-2"}))
    table = RoutingTable({1: P["a"]}, {"a": P["a"]}, {1: tuple(keys)}, {"smart": (labelled,)})
    assert [k.secret for k in table.keys_for(labelled)] == ["k2"]
    router, adapter, _, _ = stage({"a": keys}, {"smart": (labelled,)}, {})
    for _ in range(10):
        await run(router)
    assert set(adapter.calls) == {"k2"}


@pytest.mark.parametrize(
    ("tags", "served"),
    [
        (frozenset({"paid"}), {"m-paid"}),
        (frozenset({"free"}), {"m-free"}),
        (frozenset({"nobody"}), {"m-default"}),  # no route shares the tag: the `default` routes
        (frozenset(), {"m-default", "m-plain"}),  # untagged requests: untagged and `default` routes
    ],
)
async def test_a_requests_tags_choose_among_tagged_routes(tags: frozenset[str], served: set[str]) -> None:
    routes = (
        route("a", "m-paid", tags=frozenset({"paid"})), route("a", "m-free", tags=frozenset({"free"})),
        route("a", "m-default", tags=frozenset({"default"})), route("a", "m-plain"),
    )
    router, _, _, _ = stage({"a": [key(1, 1, "k1")]}, {"smart": routes}, {})
    seen = {(await run(router, facts=RequestFacts(tags)))[0]["model"] for _ in range(40)}
    assert seen == served


async def test_tags_no_route_carries_answer_400() -> None:
    router, _, _, _ = stage({"a": [key(1, 1, "k1")]}, {"smart": (route("a", "m", tags=frozenset({"paid"})),)}, {})
    with pytest.raises(GatewayError) as caught:
        await run(router, facts=RequestFacts(frozenset({"free"})))
    assert (caught.value.status, caught.value.code, caught.value.param) == (400, "no_route_for_tags", "tags")
    assert caught.value.message == "No route of `smart` carries the tags ['free'] (or `default`)."


def test_route_candidates_shuffle_a_tier_and_filter_by_tags() -> None:
    """What the console and the what-if list: the same candidates, order and tag filter as a call."""
    routes = (route("a", "m", tags=frozenset({"paid"})), route("b", "m", tags=frozenset({"free"})), route("b", "n"))
    router, _, _, _ = stage({"a": [key(1, 1, "k1")], "b": [key(2, 2, "k2")]}, {"smart": routes}, {})
    assert [(c.key.secret, c.route.upstream_model) for c in router.route_candidates("smart", frozenset({"paid"})) or ()] == [("k1", "m")]
    assert [c.key.secret for c in router.route_candidates("smart", frozenset({"free"})) or ()] == ["k2"]
    both = [c.key.secret for c in router.route_candidates("smart", frozenset({"free", "paid"})) or ()]
    assert sorted(both) == ["k1", "k2"]  # one tier of two routes: shuffled by weight
    assert [c.route.upstream_model for c in router.route_candidates("smart") or ()] == ["n"]


async def test_a_too_long_request_skips_a_small_window_and_takes_the_context_fallback() -> None:
    routes = (route("a", "small", context_window=100), route("b", "large", priority=2, context_fallback=True, context_window=10_000))
    router, adapter, _, _ = stage({"a": [key(1, 1, "k1")], "b": [key(2, 2, "k2")]}, {"smart": routes}, {})
    short = RequestFacts(prompt_tokens=lambda: 50)
    assert (await run(router, facts=short))[0]["model"] == "small"
    served, trail = await run(router, facts=RequestFacts(prompt_tokens=lambda: 500))
    assert served["model"] == "large"
    assert [(a.model, a.outcome, a.reason) for a in trail.attempts] == [("small", "skipped", "too_long"), ("large", "served", None)]
    assert adapter.calls == ["k1", "k2"]


async def test_context_length_exceeded_upstream_moves_on_to_the_context_fallback() -> None:
    routes = (route("a", "small"), route("b", "large", context_fallback=True))
    script = {"k1": [fail(ErrorKind.CONTEXT_TOO_LONG, 400)]}
    router, _, _, _ = stage({"a": [key(1, 1, "k1")], "b": [key(2, 2, "k2")]}, {"smart": routes}, script)
    served, trail = await run(router)
    assert served["model"] == "large" and [a.outcome for a in trail.attempts] == ["failed", "served"]


async def test_the_context_fallback_serves_nothing_that_fits() -> None:
    routes = (route("a", "small"), route("b", "large", context_fallback=True))
    script = {"k1": [fail(ErrorKind.UPSTREAM_5XX, 500)]}
    router, adapter, _, _ = stage({"a": [key(1, 1, "k1")], "b": [key(2, 2, "k2")]}, {"smart": routes}, script)
    with pytest.raises(GatewayError) as caught:
        await run(router)
    assert caught.value.code == "all_upstreams_failed" and set(adapter.calls) == {"k1"}


async def test_too_long_for_every_route_answers_context_length_exceeded() -> None:
    router, _, _, _ = stage({"a": [key(1, 1, "k1")]}, {"smart": (route("a", "small", context_window=10),)}, {})
    with pytest.raises(GatewayError) as caught:
        await run(router, facts=RequestFacts(prompt_tokens=lambda: 11))
    assert (caught.value.status, caught.value.code) == (400, "context_length_exceeded")


async def test_a_wildcard_model_serves_any_name_it_matches() -> None:
    models = {"openai/*": (route("a", "*"),), "team-*": (route("b", "ft:*-v2"),)}
    router, _, _, _ = stage({"a": [key(1, 1, "k1")], "b": [key(2, 2, "k2")]}, models, {}, wildcards=("openai/*", "team-*"))
    assert (await run(router, "openai/gpt-4.1"))[0] == {"served_by": "k1", "model": "gpt-4.1"}
    assert (await run(router, "team-red"))[0] == {"served_by": "k2", "model": "ft:red-v2"}
    with pytest.raises(GatewayError) as caught:
        await run(router, "openai")
    assert caught.value.code == "model_not_found"


async def test_an_alias_is_the_model_under_another_name() -> None:
    router, _, _, _ = stage({"a": [key(1, 1, "k1")]}, {"smart": (route("a", "m"),)}, {}, aliases={"gpt-4": "smart"})
    assert (await run(router, "gpt-4"))[0]["model"] == "m"
    table = router._table()
    assert table.model_names() == ["gpt-4", "smart", "a/m"] and table.is_logical("gpt-4")


async def test_a_models_num_retries_and_timeouts_apply_to_its_calls() -> None:
    keys = [key(i, 1, f"k{i}") for i in range(1, 6)]
    settings = {"smart": ModelSettings(num_retries=1, timeout=7.5, stream_timeout=90)}
    script = {f"k{i}": [fail(ErrorKind.UPSTREAM_5XX, 503)] for i in range(1, 6)}
    router, adapter, _, _ = stage({"a": keys}, {"smart": (route("a", "m"),)}, script, settings=settings)
    with pytest.raises(GatewayError):
        await run(router)
    assert len(adapter.calls) == 2  # the first call and one retry, not the policy's five
    assert {(t.timeout, t.stream_timeout) for t in adapter.targets} == {(7.5, 90)}


async def test_a_keyless_provider_is_called_without_a_key() -> None:
    keyless = keyless_key(1)
    router, adapter, _, _ = stage({"a": [keyless]}, {"smart": (route("a", "llama3"),)}, {"": ["ok"]})
    served, trail = await run(router)
    assert served == {"served_by": "", "model": "llama3"} and trail.attempts[0].key_label == KEYLESS_LABEL
    assert adapter.targets[0].api_key == ""


def test_deployment_and_route_state_survive_a_restart() -> None:
    clock = FakeClock()
    states = KeyStateStore(clock, circuit_threshold=2, circuit_open_seconds=20)
    k1, limited = key(1, 1, "k1"), route("a", "m", id=3, limits=Limits(daily_tokens=10_000))
    states.on_failure(k1, "m", rate_limited(40), clock.t)
    states.on_failure(k1, "other", fail(ErrorKind.UPSTREAM_5XX), clock.t)
    states.on_failure(k1, "other", fail(ErrorKind.UPSTREAM_5XX), clock.t)
    states.note_usage(1, limited, 1234, 99, clock.t)
    rows = states.take_dirty()
    assert (len(rows.keys), len(rows.deployments), len(rows.routes)) == (1, 2, 1)
    restored = KeyStateStore(clock, circuit_threshold=2, circuit_open_seconds=20)
    restored.load(StateRows(rows.keys, rows.deployments, rows.routes, rows.circuits))
    assert restored.skip_reason(k1, route("a", "m"), (1, "m"), clock.t) == SkipReason.COOLING
    assert restored.skip_reason(k1, route("a", "other"), (1, "other"), clock.t) == SkipReason.FAILING
    assert restored.routes[(3, 1)].day_tokens == 1234 and restored.routes[(3, 1)].month_cost_micros == 99
    assert restored.keys[1].usage.day_tokens == 1234
    assert states.take_dirty().keys == [] and not states.take_dirty()

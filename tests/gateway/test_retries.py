"""The router's retry policy and what a refused call tells the client: attempt and time budgets, the
backoff's growth and cap, how long it waits for a cooling key, which status a caller's error keeps,
the ``Retry-After`` worked out from recovery times, and the half-open probe slot given back when a
probe ends without a verdict. Fake clock, a fixed random source, scripted adapter."""

from __future__ import annotations

import asyncio
import random

import pytest

from services.errors import ErrorKind, GatewayError
from services.gateway.router import RequestFacts, Router
from services.gateway.trail import RouteTrail
from tests.factories import CLOCK_START
from tests.gateway.scripted import build, fail, key, rate_limited, run


class FixedRandom(random.Random):
    """Every draw is ``value``: the backoff's jitter factor is ``0.5 + value``, and orders stay as listed."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


def failing_keys(count: int, error_kind: ErrorKind = ErrorKind.UPSTREAM_5XX, **policy: float) -> Router:
    keys = [key(i, 1, f"a{i}") for i in range(1, count + 1)]
    router, _, _, _ = build({"a": keys}, [("a", 1, 1)], {f"a{i}": [fail(error_kind, 503)] for i in range(1, count + 1)}, **policy)
    return router


async def refusal(router: Router, model: str = "smart", facts: RequestFacts | None = None) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        await run(router, model, facts)
    return caught.value


@pytest.mark.parametrize(("draw", "factor"), [(0.5, 1.0), (0.0, 0.5), (0.9, 1.4)])
async def test_backoff_doubles_per_failure_up_to_its_cap_times_the_jitter(draw: float, factor: float) -> None:
    router = failing_keys(5, backoff_base=0.1, backoff_cap=0.3)
    router.rng = FixedRandom(draw)
    trail = RouteTrail()
    with pytest.raises(GatewayError):
        await run(router, trail=trail)
    expected = [delay * factor for delay in (0.1, 0.2, 0.3, 0.3, 0.3)]
    assert router.clock.slept == pytest.approx(expected)  # type: ignore[attr-defined]
    assert [a.backoff_ms for a in trail.attempts] == [round(delay * 1000, 1) for delay in expected]


async def test_the_retry_budget_stops_further_attempts() -> None:
    """Backoffs of 0.25 s then 0.5 s: the second attempt starts at the budget's edge, a third would be past it."""
    router = failing_keys(3, backoff_base=0.25, retry_budget=0.25)
    router.rng = FixedRandom(0.5)
    error = await refusal(router)
    assert error.status == 502 and error.code == "all_upstreams_failed"
    assert router.clock.slept == [0.25, 0.5]  # type: ignore[attr-defined]


async def test_the_attempt_budget_counts_failures_not_candidates() -> None:
    router = failing_keys(4, max_attempts=2)
    router.rng = FixedRandom(0.5)
    trail = RouteTrail()
    with pytest.raises(GatewayError):
        await run(router, trail=trail)
    assert [a.outcome for a in trail.attempts] == ["failed", "failed"]


@pytest.mark.parametrize(("budget", "waits"), [(2.0, [1.5]), (3.0, [1.5, 1.5]), (0.0, [])])
async def test_waiting_for_a_cooling_key_stays_within_the_wait_budget(budget: float, waits: list[float]) -> None:
    router, adapter, clock, _ = build({"a": [key(1, 1, "a1")]}, [("a", 1, 1)], {"a1": [rate_limited(1.5)]}, cooldown_wait_budget=budget)
    error = await refusal(router)
    assert error.status == 429 and error.code == "all_keys_cooling" and error.retry_after == 2
    assert clock.slept == waits and len(adapter.calls) == len(waits) + 1


async def test_no_waiting_once_the_attempts_are_used_up() -> None:
    router, adapter, clock, _ = build({"a": [key(1, 1, "a1")]}, [("a", 1, 1)], {"a1": [rate_limited(1), "ok"]}, max_attempts=1)
    error = await refusal(router)
    assert error.status == 429 and error.retry_after == 1
    assert clock.slept == [] and adapter.calls == ["a1"]


@pytest.mark.parametrize(("status", "answered"), [(413, 413), (422, 422), (400, 400), (None, 400), (500, 400)])
async def test_a_callers_error_keeps_its_client_status(status: int | None, answered: int) -> None:
    router, adapter, _, _ = build(
        {"a": [key(1, 1, "a1")], "b": [key(2, 2, "b1")]}, [("a", 1, 1), ("b", 2, 1)], {"a1": [fail(ErrorKind.BAD_REQUEST, status)]}
    )
    error = await refusal(router)
    assert (error.status, error.code) == (answered, "upstream_bad_request") and adapter.calls == ["a1"]


async def test_a_model_without_keys_answers_502_naming_that() -> None:
    router, _, _, _ = build({"a": []}, [("a", 1, 1)], {})
    for facts in (None, RequestFacts(tags=frozenset({"team-a"}))):
        error = await refusal(router, facts=facts)
        assert (error.status, error.code, error.error_type) == (502, "no_healthy_upstream", "api_error")
        assert error.message == "The model `smart` has no provider keys configured."


async def test_failing_upstreams_answer_502_with_retry_after_from_their_rest() -> None:
    router, _, clock, states = build({"a": [key(1, 1, "a1")]}, [("a", 1, 1)], {})
    for _ in range(3):
        states.on_failure(key(1, 1, "a1"), "a-model", fail(ErrorKind.UPSTREAM_5XX, 500), clock.t)
    clock.t += 4.5
    error = await refusal(router)
    assert (error.status, error.code, error.retry_after) == (502, "no_healthy_upstream", 16)
    assert clock.slept == []


async def test_an_rpm_limit_answers_429_with_retry_after_when_its_minute_frees() -> None:
    router, _, clock, _ = build({"a": [key(1, 1, "a1", rpm=1)]}, [("a", 1, 1)], {})
    await run(router)
    clock.t += 30.2
    error = await refusal(router)
    assert (error.status, error.code, error.retry_after) == (429, "all_keys_cooling", 30)


async def test_retry_after_is_the_earliest_recovery_and_at_least_a_second() -> None:
    keys = {"a": [key(1, 1, "a1")], "b": [key(2, 2, "b1")]}
    script = {"a1": [rate_limited(0.4)], "b1": [rate_limited(9)]}
    router, _, clock, _ = build(keys, [("a", 1, 1), ("b", 1, 1)], script, cooldown_wait_budget=0)
    error = await refusal(router)
    assert error.retry_after == 1 and clock.slept == []


async def test_a_rate_limit_among_failing_upstreams_makes_it_a_429() -> None:
    router, _, clock, states = build({"a": [key(1, 1, "a1")], "b": [key(2, 2, "b1")]}, [("a", 1, 1), ("b", 1, 1)], {})
    for _ in range(3):
        states.on_failure(key(1, 1, "a1"), "a-model", fail(ErrorKind.TIMEOUT), clock.t)
    states.on_failure(key(2, 2, "b1"), "b-model", rate_limited(40), clock.t)
    error = await refusal(router)
    assert (error.status, error.code, error.retry_after) == (429, "all_keys_cooling", 20)


async def test_a_probe_ended_by_a_callers_error_frees_the_slot() -> None:
    router, adapter, clock, states = build({"a": [key(1, 1, "a1")]}, [("a", 1, 1)], {"a1": [fail(ErrorKind.BAD_REQUEST, 400)]})
    for _ in range(3):
        states.on_failure(key(1, 1, "a1"), "a-model", fail(ErrorKind.CONNECTION), clock.t)
    clock.t += 20
    assert (await refusal(router)).status == 400
    assert adapter.calls == ["a1"] and states.circuit_allows(1, clock.t)


async def test_a_cancelled_probe_frees_the_slot() -> None:
    router, _, clock, states = build({"a": [key(1, 1, "a1")]}, [("a", 1, 1)], {})
    for _ in range(3):
        states.on_failure(key(1, 1, "a1"), "a-model", fail(ErrorKind.CONNECTION), clock.t)
    clock.t += 20

    async def cancelled(_adapter, _target):  # type: ignore[no-untyped-def]
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await router.execute("smart", cancelled, RouteTrail())
    assert states.circuit_allows(1, clock.t)


async def test_a_failed_probe_opens_the_circuit_again() -> None:
    router, _, clock, states = build({"a": [key(1, 1, "a1")]}, [("a", 1, 1)], {"a1": [fail(ErrorKind.CONNECTION)]})
    for _ in range(3):
        states.on_failure(key(1, 1, "a1"), "a-model", fail(ErrorKind.CONNECTION), clock.t)
    clock.t += 20
    await refusal(router)
    assert states.circuits[1].open_until == CLOCK_START + 40  # the probe went at +20 (its backoff came after)
    assert not states.circuit_allows(1, CLOCK_START + 39)


async def test_a_stream_broken_after_its_first_byte_counts_against_the_deployment() -> None:
    router, _, _, states = build({"a": [key(1, 1, "a1")]}, [("a", 1, 1)], {})
    _, trail = await run(router)
    assert trail.served is not None
    router.stream_failed(trail.served, fail(ErrorKind.UPSTREAM_5XX, 502))
    broken = states.deployments[(1, "a-model")]
    assert (broken.consecutive_failures, broken.last_error_at) == (1, router.clock.now())


async def test_a_requests_size_is_estimated_at_most_once() -> None:
    estimates: list[int] = []

    def count() -> int:
        estimates.append(1)
        return 12

    facts = RequestFacts(prompt_tokens=count)
    assert facts.estimate() == 12 and facts.estimate() == 12 and estimates == [1]
    assert RequestFacts().estimate() == 0


async def test_a_failed_attempt_is_kept_with_its_status_and_error_and_the_adapter_of_its_kind() -> None:
    router, adapter, _, _ = build({"a": [key(1, 1, "a1")], "b": [key(2, 2, "b1")]}, [("a", 1, 1), ("b", 2, 1)],
                                  {"a1": [fail(ErrorKind.UPSTREAM_5XX, 503)]})
    kinds: list[str] = []
    router.adapter_for = lambda kind: kinds.append(kind) or adapter  # type: ignore[assignment, func-returns-value]
    _, trail = await run(router)
    failed, served = trail.attempts
    assert (failed.outcome, failed.status, failed.error, failed.reason) == ("failed", 503, "upstream_5xx happened", "upstream_5xx")
    assert served.outcome == "served" and failed.ms is not None and served.ms is not None
    assert kinds == ["openai", "openai"]


async def test_refusals_say_what_blocks_in_the_clients_error_type() -> None:
    cooling, _, _, _ = build({"a": [key(1, 1, "a1")]}, [("a", 1, 1)], {"a1": [rate_limited(40)]})
    error = await refusal(cooling)
    assert (error.error_type, error.message) == (
        "rate_limit_error", "Every key for `smart` is rate limited or cooling down; retry in 40 s.",
    )
    failing = failing_keys(1)
    error = await refusal(failing)
    assert (error.error_type, error.message) == ("api_error", "Every upstream for `smart` failed; see the request log.")
    for _ in range(2):
        await refusal(failing)
    error = await refusal(failing)  # the deployment now rests
    assert (error.code, error.error_type) == ("no_healthy_upstream", "api_error")
    assert error.message == f"Every upstream for `smart` is failing and resting; retry in {error.retry_after} s."
    disabled, _, _, _ = build({"a": [key(1, 1, "a1", enabled=False)]}, [("a", 1, 1)], {})
    error = await refusal(disabled)
    assert (error.status, error.error_type, error.retry_after) == (502, "api_error", None)
    assert error.message == "No usable key for `smart`: all are disabled, invalid or exhausted."

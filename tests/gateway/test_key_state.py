"""The key-state store on its own: its counters' UTC day and month, how long a quota error or a 429
keeps a key or deployment out, when timed reasons end, what the scheduled clean-up clears, and the
state's round trip through the rows the mirror job writes. Fake clock only."""

from __future__ import annotations

import time

import pytest

from services.clock import DAY_SECONDS
from services.errors import ErrorKind
from services.gateway.health import WINDOW_SECONDS, SkipReason, UsageWindow
from services.gateway.key_state import MAX_COOLDOWN_SECONDS, KeyStateStore
from services.gateway.routing_table import Limits, RouteEntry
from tests.factories import CLOCK_START, FakeClock
from tests.gateway.scripted import PLAIN_ROUTE, fail, key, providers_of, rate_limited

DAY_START = CLOCK_START - CLOCK_START % DAY_SECONDS
NEXT_MIDNIGHT = DAY_START + DAY_SECONDS
PROVIDER = providers_of(["a"])["a"]
MODEL = PLAIN_ROUTE.upstream_model
DEPLOYMENT = (1, MODEL)


def fresh_store() -> tuple[KeyStateStore, FakeClock]:
    clock = FakeClock()
    return KeyStateStore(clock, default_cooldown=30, circuit_threshold=2, circuit_open_seconds=20), clock


def limited_route(route_id: int = 5, **limits: int) -> RouteEntry:
    return RouteEntry(PROVIDER, MODEL, id=route_id, limits=Limits(**limits))


def reason(states: KeyStateStore, now: float, route: RouteEntry = PLAIN_ROUTE, **limits: int) -> SkipReason | None:
    return states.skip_reason(key(1, 1, "k1", **limits), route, DEPLOYMENT, now)


def test_clock_starts_mid_day() -> None:
    """The tests below rely on it: the first moment is hours away from a UTC midnight."""
    assert 3600 < CLOCK_START - DAY_START < DAY_SECONDS - 3600


def test_tokens_accumulate_over_the_day_and_reset_at_utc_midnight() -> None:
    states, clock = fresh_store()
    states.note_usage(1, PLAIN_ROUTE, 40, None, clock.t)
    states.note_usage(1, PLAIN_ROUTE, 35, None, clock.t + 120)
    assert states.keys[1].usage.day_tokens == 75
    assert reason(states, clock.t + 120, daily_tokens=75) == SkipReason.OVER_DAILY_TOKENS
    assert reason(states, clock.t + 120, daily_tokens=76) is None
    assert reason(states, NEXT_MIDNIGHT - 1, daily_tokens=75) == SkipReason.OVER_DAILY_TOKENS
    assert reason(states, NEXT_MIDNIGHT, daily_tokens=75) is None
    assert states.keys[1].usage.day_tokens == 0


def test_spend_accumulates_over_the_month_and_resets_with_the_next() -> None:
    states, clock = fresh_store()
    states.note_usage(1, PLAIN_ROUTE, 10, 300, clock.t)
    states.note_usage(1, PLAIN_ROUTE, 10, None, clock.t)  # no price known: nothing to add
    states.note_usage(1, PLAIN_ROUTE, 10, 200, clock.t)
    assert states.keys[1].usage.month_cost_micros == 500
    assert reason(states, NEXT_MIDNIGHT, monthly_usd_micros=500) == SkipReason.OVER_MONTHLY_BUDGET  # a new day, the same month
    assert reason(states, NEXT_MIDNIGHT, monthly_usd_micros=501) is None
    next_month = CLOCK_START + 40 * DAY_SECONDS
    assert reason(states, next_month, monthly_usd_micros=500) is None
    assert states.keys[1].usage.month_cost_micros == 0


def test_route_limits_keep_their_own_day_counter() -> None:
    states, clock = fresh_store()
    route = limited_route(daily_tokens=100)
    states.note_usage(1, route, 60, 7, clock.t)
    states.note_usage(1, route, 50, 7, clock.t)
    assert states.routes[(5, 1)].day_tokens == 110 and states.routes[(5, 1)].month_cost_micros == 14
    assert reason(states, clock.t, route) == SkipReason.ROUTE_OVER_DAILY_TOKENS
    assert reason(states, NEXT_MIDNIGHT, route) is None


def test_unlimited_routes_keep_no_counters() -> None:
    states, clock = fresh_store()
    states.note_usage(1, PLAIN_ROUTE, 60, 7, clock.t)
    states.note_usage(1, RouteEntry(PROVIDER, MODEL, id=9), 60, 7, clock.t)
    assert states.routes == {} and states.dirty_routes == set()


def test_rpm_is_counted_only_where_a_limit_asks_for_it() -> None:
    states, clock = fresh_store()
    states.note_request(key(1, 1, "k1"), limited_route(tpm=10), clock.t)
    assert 1 not in states.keys and states.routes == {}
    states.note_request(key(1, 1, "k1", rpm=2), limited_route(rpm=1), clock.t)
    assert list(states.keys[1].usage.requests) == [clock.t] and list(states.routes[(5, 1)].requests) == [clock.t]


def test_tpm_counts_a_calls_estimated_prompt_at_admission_and_the_rest_when_metered() -> None:
    """Calls admitted together see each other against a tpm limit (issue #16): the second of two 60-token
    prompts on a 100-tpm key is over the limit before the first is metered; metering then adds only what
    the call took beyond its estimate."""
    states, clock = fresh_store()
    limited = key(1, 1, "k1", tpm=100)
    states.note_request(limited, PLAIN_ROUTE, clock.t, lambda: 60)
    assert states.keys[1].usage.window_tokens == 60
    assert states.skip_reason(limited, PLAIN_ROUTE, (1, MODEL), clock.t) is None
    states.note_request(limited, PLAIN_ROUTE, clock.t, lambda: 60)
    assert states.skip_reason(limited, PLAIN_ROUTE, (1, MODEL), clock.t) == SkipReason.OVER_TPM
    states.note_usage(1, PLAIN_ROUTE, 75, None, clock.t, held=60)
    assert states.keys[1].usage.window_tokens == 135 and states.keys[1].usage.day_tokens == 75
    states.note_usage(1, PLAIN_ROUTE, 40, None, clock.t, held=60)  # an over-estimate is not taken back
    assert states.keys[1].usage.window_tokens == 135 and states.keys[1].usage.day_tokens == 115
    route = limited_route(tpm=50)
    states.note_request(key(2, 1, "k2"), route, clock.t, lambda: 30)
    assert states.routes[(5, 2)].window_tokens == 30 and 2 not in states.keys


def test_a_quota_error_keeps_the_key_out_until_the_next_utc_midnight_not_for_24_hours() -> None:
    states, clock = fresh_store()
    states.on_failure(key(1, 1, "k1"), MODEL, fail(ErrorKind.QUOTA_EXHAUSTED, 429), clock.t)
    assert states.keys[1].exhausted_until == NEXT_MIDNIGHT
    assert reason(states, NEXT_MIDNIGHT - 1) == SkipReason.EXHAUSTED and states.status(1, NEXT_MIDNIGHT - 1) == "exhausted"
    assert reason(states, NEXT_MIDNIGHT) is None
    assert states.keys[1].disabled_reason is None and states.keys[1].exhausted_until is None


def test_an_auth_error_marks_the_key_invalid_with_no_end() -> None:
    states, clock = fresh_store()
    states.on_failure(key(1, 1, "k1"), MODEL, fail(ErrorKind.AUTH, 401), clock.t)
    assert reason(states, clock.t + 365 * DAY_SECONDS) == SkipReason.INVALID
    assert states.keys[1].last_error == f"{MODEL}: auth: auth happened" and states.keys[1].last_error_at == clock.t
    assert states.deployments == {}  # the key's fault, not the deployment's


def test_retry_after_is_obeyed_up_to_the_maximum_cooldown() -> None:
    states, clock = fresh_store()
    states.on_failure(key(1, 1, "k1"), MODEL, rate_limited(45), clock.t)
    assert states.deployments[DEPLOYMENT].cooldown_until == clock.t + 45
    states.on_failure(key(1, 1, "k1"), MODEL, rate_limited(5), clock.t)
    assert states.deployments[DEPLOYMENT].cooldown_until == clock.t + 45  # a shorter one does not cut it short
    states.on_failure(key(1, 1, "k1"), MODEL, rate_limited(30 * DAY_SECONDS), clock.t)
    assert states.deployments[DEPLOYMENT].cooldown_until == clock.t + MAX_COOLDOWN_SECONDS
    assert reason(states, clock.t + MAX_COOLDOWN_SECONDS - 1) == SkipReason.COOLING
    assert reason(states, clock.t + MAX_COOLDOWN_SECONDS) is None


def test_a_deployment_rests_after_the_threshold_of_failures_in_a_row() -> None:
    states, clock = fresh_store()
    states.on_failure(key(1, 1, "k1"), MODEL, fail(ErrorKind.UPSTREAM_5XX, 503), clock.t)
    assert reason(states, clock.t) is None and states.deployments[DEPLOYMENT].consecutive_failures == 1
    states.on_failure(key(1, 1, "k1"), MODEL, fail(ErrorKind.TIMEOUT), clock.t)
    assert states.deployments[DEPLOYMENT].resting_until == clock.t + 20
    assert reason(states, clock.t + 19) == SkipReason.FAILING and reason(states, clock.t + 20) is None
    states.on_success(key(1, 1, "k1"), DEPLOYMENT)
    assert states.deployments[DEPLOYMENT].consecutive_failures == 0


def test_recovery_times_of_each_timed_reason() -> None:
    states, clock = fresh_store()
    k1, route = key(1, 1, "k1", rpm=1, tpm=10), limited_route(rpm=1, tpm=10)
    states.note_request(k1, route, clock.t)
    states.note_usage(1, route, 25, None, clock.t + 5)
    states.force_cooldown(1, 12)
    states.on_failure(k1, MODEL, rate_limited(8), clock.t)
    assert states.recovery_time(k1, route, DEPLOYMENT, SkipReason.COOLING) == clock.t + 12  # the later of key and deployment
    assert states.recovery_time(k1, route, DEPLOYMENT, SkipReason.OVER_RPM) == clock.t + WINDOW_SECONDS
    assert states.recovery_time(k1, route, DEPLOYMENT, SkipReason.OVER_TPM) == clock.t + 5 + WINDOW_SECONDS
    assert states.recovery_time(k1, route, DEPLOYMENT, SkipReason.ROUTE_OVER_RPM) == clock.t + WINDOW_SECONDS
    assert states.recovery_time(k1, route, DEPLOYMENT, SkipReason.ROUTE_OVER_TPM) == clock.t + 5 + WINDOW_SECONDS
    assert states.recovery_time(k1, route, DEPLOYMENT, SkipReason.EXHAUSTED) is None
    for _ in range(2):
        states.on_failure(k1, MODEL, fail(ErrorKind.CONNECTION), clock.t)
    assert states.recovery_time(k1, route, DEPLOYMENT, SkipReason.FAILING) == clock.t + 20
    assert states.recovery_time(k1, route, DEPLOYMENT, SkipReason.CIRCUIT_OPEN) == clock.t + 20


def test_clear_expired_drops_only_what_has_ended() -> None:
    states, clock = fresh_store()
    k1, k2 = key(1, 1, "k1"), key(2, 1, "k2")
    states.force_cooldown(1, 10)
    states.force_cooldown(2, 100)
    states.on_failure(k2, MODEL, fail(ErrorKind.QUOTA_EXHAUSTED, 429), clock.t)
    states.on_failure(k1, MODEL, rate_limited(10), clock.t)
    states.on_failure(k1, "other", rate_limited(100), clock.t)
    for _ in range(2):
        states.on_failure(k1, "third", fail(ErrorKind.UPSTREAM_5XX, 500), clock.t)
    states.take_dirty()
    clock.t += 50
    assert states.clear_expired() == 3  # k1's cooldown, the first deployment's cooldown, the third's rest
    assert states.keys[1].cooldown_until == 0.0 and states.keys[2].cooldown_until == CLOCK_START + 100
    assert states.keys[2].disabled_reason == SkipReason.EXHAUSTED
    assert states.deployments[(1, MODEL)].cooldown_until == 0.0
    assert states.deployments[(1, "other")].cooldown_until == CLOCK_START + 100
    assert states.deployments[(1, "third")].resting_until == 0.0
    dirty = states.take_dirty()
    assert [row.key_id for row in dirty.keys] == [1]
    assert sorted(row.model for row in dirty.deployments) == [MODEL, "third"]
    clock.t = NEXT_MIDNIGHT
    assert states.clear_expired() == 3  # k2's cooldown and exhaustion, the other deployment's cooldown
    assert states.keys[2].disabled_reason is None and states.keys[2].cooldown_until == 0.0
    assert states.clear_expired() == 0


def test_state_round_trips_through_the_mirrored_rows() -> None:
    states, clock = fresh_store()
    k1, k2, route = key(1, 1, "k1"), key(2, 1, "k2"), limited_route(daily_tokens=1000)
    states.force_cooldown(1, 90)
    states.on_failure(k1, MODEL, rate_limited(40), clock.t)
    states.on_failure(k2, MODEL, fail(ErrorKind.AUTH, 401), clock.t)
    for model in ("m1", "m2"):
        states.on_failure(k1, model, fail(ErrorKind.UPSTREAM_5XX, 502), clock.t)
    states.note_usage(1, route, 300, 42, clock.t)
    states.on_failure(key(3, 2, "k3"), MODEL, fail(ErrorKind.TIMEOUT), clock.t)  # provider 2: one failure, circuit closed
    rows = states.take_dirty()
    assert rows and not states.take_dirty()
    assert all(row.updated_at is not None for group in (rows.keys, rows.deployments, rows.routes, rows.circuits) for row in group)

    restored = KeyStateStore(clock, circuit_threshold=2, circuit_open_seconds=20)
    restored.load(rows)
    assert restored.keys[2] == states.keys[2]
    one, original = restored.keys[1], states.keys[1]
    assert (one.cooldown_until, one.last_error, one.last_error_at) == (original.cooldown_until, original.last_error, original.last_error_at)
    assert (one.usage.day, one.usage.day_tokens, one.usage.month, one.usage.month_cost_micros) == (
        original.usage.day, 300, original.usage.month, 42,
    )
    assert restored.keys[2].disabled_reason == SkipReason.INVALID
    assert restored.deployments == states.deployments
    assert (restored.routes[(5, 1)].day_tokens, restored.routes[(5, 1)].month_cost_micros) == (300, 42)
    assert restored.circuits[1].consecutive_failures == 2 and restored.circuits[1].open_until == clock.t + 20
    assert restored.skip_reason(k2, PLAIN_ROUTE, (2, MODEL), clock.t) == SkipReason.INVALID
    assert restored.skip_reason(k1, PLAIN_ROUTE, DEPLOYMENT, clock.t) == SkipReason.COOLING
    assert not restored.circuit_allows(1, clock.t) and restored.circuit_allows(1, clock.t + 20)
    assert restored.circuit_allows(2, clock.t) and restored.circuit_allows(2, clock.t)  # closed: no probe slot to take
    later = clock.t + 100  # past k1's cooldowns, the same UTC day: the day's and month's counts survived
    for limits, reason in (
        ({"daily_tokens": 300}, SkipReason.ROUTE_OVER_DAILY_TOKENS), ({"monthly_usd_micros": 42}, SkipReason.ROUTE_OVER_MONTHLY_BUDGET),
    ):
        assert restored.skip_reason(key(9, 1, "k9"), limited_route(**limits), (9, MODEL), later) is None  # counted per key
        assert restored.skip_reason(k1, limited_route(**limits), DEPLOYMENT, later) == reason


def test_state_rows_are_something_when_any_kind_is() -> None:
    states, clock = fresh_store()
    assert not states.take_dirty()
    states.note_usage(1, limited_route(tpm=5), 1, None, clock.t)
    states.dirty_keys.clear()
    assert states.take_dirty()  # a route row only
    states.on_failure(key(1, 1, "k1"), MODEL, fail(ErrorKind.CONNECTION), clock.t)
    states.dirty_keys.clear()
    states.dirty_deployments.clear()
    assert states.take_dirty()  # a circuit row only


def test_an_exhausted_key_restored_after_midnight_serves_again() -> None:
    states, clock = fresh_store()
    states.on_failure(key(1, 1, "k1"), MODEL, fail(ErrorKind.QUOTA_EXHAUSTED, 429), clock.t)
    restored = KeyStateStore(clock)
    restored.load(states.take_dirty())
    assert restored.keys[1].exhausted_until == NEXT_MIDNIGHT
    assert reason(restored, NEXT_MIDNIGHT - 1) == SkipReason.EXHAUSTED and reason(restored, NEXT_MIDNIGHT) is None


def test_forgetting_keys_routes_and_a_provider_drops_their_state() -> None:
    states, clock = fresh_store()
    for key_id in (1, 2):
        states.on_failure(key(key_id, 1, f"k{key_id}"), MODEL, rate_limited(10), clock.t)
        states.note_usage(key_id, limited_route(5, tpm=100), 10, None, clock.t)
        states.note_usage(key_id, limited_route(6, tpm=100), 10, None, clock.t)
    for _ in range(2):
        states.on_failure(key(1, 1, "k1"), "m2", fail(ErrorKind.CONNECTION), clock.t)
    states.forget([1], provider_id=1)
    assert set(states.keys) == {2} and set(states.deployments) == {(2, MODEL)} and states.circuits == {}
    assert set(states.routes) == {(5, 2), (6, 2)}
    assert 1 not in states.dirty_keys and 1 not in states.dirty_circuits
    states.forget_routes({5})
    assert set(states.routes) == {(6, 2)} and states.dirty_routes == {(6, 2)}


def test_reset_key_clears_its_marks_and_its_deployments() -> None:
    states, clock = fresh_store()
    k1 = key(1, 1, "k1")
    states.force_cooldown(1, 60)
    states.on_failure(k1, MODEL, fail(ErrorKind.AUTH, 401), clock.t)
    states.on_failure(k1, "m2", rate_limited(60), clock.t)
    states.on_failure(key(2, 1, "k2"), "m2", rate_limited(60), clock.t)
    states.reset_key(1)
    assert reason(states, clock.t) is None and states.status(1, clock.t) == "active"
    assert states.deployments[(1, "m2")].cooldown_until == 0.0 and states.deployments[(2, "m2")].cooldown_until > clock.t


def test_console_statuses() -> None:
    states, clock = fresh_store()
    k1 = key(1, 1, "k1")
    assert states.status(1, clock.t) == "active"
    states.force_cooldown(1, 60)
    assert states.status(1, clock.t + 59) == "cooling" and states.status(1, clock.t + 60) == "active"
    states.on_failure(k1, "b-model", rate_limited(10), clock.t)
    for _ in range(2):
        states.on_failure(k1, "c-model", fail(ErrorKind.UPSTREAM_5XX, 500), clock.t)
    states.on_failure(k1, "a-model", fail(ErrorKind.UPSTREAM_5XX, 500), clock.t)
    states.on_failure(key(2, 1, "k2"), "z-model", rate_limited(10), clock.t)
    found = [(d.model, d.status, d.until, d.consecutive_failures) for d in states.deployment_statuses(1, clock.t)]
    assert found == [
        ("b-model", "cooling", clock.t + 10, 0),
        ("c-model", "failing", clock.t + 20, 2),
        ("a-model", "active", None, 1),
    ]


@pytest.mark.parametrize("kind", [ErrorKind.BAD_REQUEST, ErrorKind.CONTEXT_TOO_LONG])
def test_caller_errors_leave_no_trace(kind: ErrorKind) -> None:
    states, clock = fresh_store()
    states.on_failure(key(1, 1, "k1"), MODEL, fail(kind, 400), clock.t)
    assert not states.take_dirty() and states.keys == {} and states.deployments == {}


def test_clear_expired_counts_each_entry_and_an_end_moment_has_ended() -> None:
    states, clock = fresh_store()
    k1 = key(1, 1, "k1")
    for key_id in (1, 2):
        states.force_cooldown(key_id, 10)
    states.on_failure(key(3, 1, "k3"), MODEL, fail(ErrorKind.QUOTA_EXHAUSTED, 429), clock.t)
    states.on_failure(k1, "cooling-then-resting", rate_limited(10), clock.t)
    states.on_failure(k1, "resting-then-cooling", rate_limited(30), clock.t)
    for model in ("cooling-then-resting", "resting-then-cooling"):
        for _ in range(2):
            states.on_failure(k1, model, fail(ErrorKind.UPSTREAM_5XX, 500), clock.t + 1)  # rests until +21
    states.note_usage(1, limited_route(tpm=100), 10, None, clock.t)
    assert [row.key_id for row in states.take_dirty().keys] == [1, 2, 3]
    clock.t += 10
    assert states.clear_expired() == 3  # two keys' cooldowns and one deployment's, each at its very end
    assert states.deployments[(1, "cooling-then-resting")].cooldown_until == 0.0
    assert states.deployments[(1, "cooling-then-resting")].resting_until == CLOCK_START + 21
    assert states.deployments[(1, "resting-then-cooling")].cooldown_until == CLOCK_START + 30
    clock.t += 11
    assert states.clear_expired() == 2
    assert states.deployments[(1, "cooling-then-resting")].cooldown_until == 0.0
    assert states.deployments[(1, "resting-then-cooling")].cooldown_until == CLOCK_START + 30
    clock.t = NEXT_MIDNIGHT
    assert states.clear_expired() == 2  # the exhausted key, the last cooldown
    assert 3 in states.dirty_keys
    window = states.routes[(5, 1)]  # route counters roll forward too
    assert (window.window_tokens, window.day_tokens, list(window.tokens)) == (0, 0, [])


def test_admin_actions_and_forgetting_are_mirrored() -> None:
    states, clock = fresh_store()
    k1 = key(1, 1, "k1")
    states.on_failure(k1, MODEL, fail(ErrorKind.AUTH, 401), clock.t)
    states.on_failure(k1, "m2", rate_limited(60), clock.t)
    states.take_dirty()
    states.force_cooldown(1, 60)
    assert [row.key_id for row in states.take_dirty().keys] == [1]
    states.reset_key(1)
    dirty = states.take_dirty()
    assert [(row.key_id, row.disabled_reason, row.cooldown_until) for row in dirty.keys] == [(1, None, None)]
    assert [(row.model, row.cooldown_until) for row in dirty.deployments] == [("m2", None)]
    assert states.keys[1].cooldown_until == 0.0
    states.on_failure(k1, "m2", rate_limited(60), clock.t)
    states.forget([1, 99], provider_id=42)  # unknown ids and a provider without a circuit are no error
    assert states.dirty_keys == set() and states.dirty_deployments == set()


def test_console_statuses_of_one_key_only_and_a_rest_ends_at_its_moment() -> None:
    states, clock = fresh_store()
    states.on_failure(key(2, 1, "k2"), "z-model", rate_limited(10), clock.t)
    for _ in range(2):
        states.on_failure(key(1, 1, "k1"), "c-model", fail(ErrorKind.UPSTREAM_5XX, 500), clock.t)
    [resting] = states.deployment_statuses(1, clock.t)
    assert (resting.status, resting.last_error, resting.last_error_at) == ("failing", "upstream_5xx: upstream_5xx happened", clock.t)
    assert [d.status for d in states.deployment_statuses(1, clock.t + 20)] == ["active"]
    assert [d.status for d in states.deployment_statuses(2, clock.t + 10)] == ["active"]  # a cooldown ends at its moment too


def test_a_window_frees_up_by_the_limit_asked_about() -> None:
    window = UsageWindow()
    window.add(10, None, CLOCK_START)
    assert window.recovery(0) is None and window.recovery(1) == CLOCK_START + WINDOW_SECONDS
    window.requests.append(CLOCK_START + 5)
    assert window.recovery(0) == CLOCK_START + 5 + WINDOW_SECONDS and window.recovery(2) is None
    assert UsageWindow().recovery(1) is None


def test_the_next_utc_midnight_from_any_moment_in_any_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub's own zone does not matter: exhaustion ends at 00:00 UTC (the zone here is UTC+5:30)."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        states, clock = fresh_store()
        clock.t += 3723.5  # 09:02:03.5 UTC
        states.on_failure(key(1, 1, "k1"), MODEL, fail(ErrorKind.QUOTA_EXHAUSTED, 429), clock.t)
        assert states.keys[1].exhausted_until == NEXT_MIDNIGHT
    finally:
        monkeypatch.undo()
        time.tzset()


def test_usage_alone_marks_the_key_for_the_mirror() -> None:
    states, clock = fresh_store()
    states.note_usage(1, PLAIN_ROUTE, 120, 9, clock.t)
    rows = states.take_dirty()
    assert rows  # key rows alone are something to write
    [row] = rows.keys
    assert (row.key_id, row.day_tokens, row.month_cost_micros) == (1, 120, 9)

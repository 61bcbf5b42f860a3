"""Two instances' worth of cluster objects on one real Redis, in one process: key state decided on
one reaches the other (and not back), a late starter reads it, token rpm and budgets hold across
both, a scheduled job's period goes to one of them, and change notices arrive."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest

from app.scheduler import once_per_cluster
from services.accounts.throttle import SignInThrottle
from services.accounts.tokens import NO_HOLD, Hold, MonthSpend, Refusal
from services.cluster import Cluster
from services.cluster.counters import SharedCounters
from services.errors import ErrorKind
from services.gateway.health import SkipReason
from services.gateway.key_state import KeyStateStore
from services.gateway.routing_table import Limits
from tests.cluster.conftest import RedisUnderTest
from tests.factories import FakeClock
from tests.gateway.scripted import PLAIN_ROUTE, fail, key, rate_limited

MODEL = PLAIN_ROUTE.upstream_model
KEY = key(1, 1, "k1")
OTHER_MODEL_KEY_FAILURE = "b-model"


def new_store(clock: FakeClock) -> KeyStateStore:
    return KeyStateStore(clock, default_cooldown=30, circuit_threshold=2, circuit_open_seconds=20)


@pytest.fixture
async def pair(test_redis: RedisUnderTest) -> AsyncIterator[tuple[Cluster, Cluster, FakeClock]]:
    clock = FakeClock()
    first = Cluster(test_redis.url, test_redis.prefix, new_store(clock))
    second = Cluster(test_redis.url, test_redis.prefix, new_store(clock))
    for cluster in (first, second):
        await cluster.start()
        await asyncio.wait_for(cluster.feed.connected.wait(), 5)
    yield first, second, clock
    for cluster in (first, second):
        await cluster.stop()


async def within_a_second(check: Callable[[], bool]) -> float:
    """How long until ``check`` holds (seconds), failing after one."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not check():
        if loop.time() - started > 1.0:
            raise AssertionError("not seen by the other instance within one second")
        await asyncio.sleep(0.01)
    return loop.time() - started


def reason(cluster: Cluster, now: float) -> SkipReason | None:
    return cluster.state.store.skip_reason(KEY, PLAIN_ROUTE, (1, MODEL), now)


async def test_a_429_on_one_instance_cools_the_deployment_on_the_other(pair: tuple[Cluster, Cluster, FakeClock]) -> None:
    first, second, clock = pair
    assert reason(second, clock.t) is None
    first.state.store.on_failure(KEY, MODEL, rate_limited(after=12), clock.t)
    await within_a_second(lambda: reason(second, clock.t) is SkipReason.COOLING)
    assert second.state.store.deployments[(1, MODEL)].cooldown_until == clock.t + 12
    assert reason(second, clock.t + 12) is None
    assert second.state.store.outbox == set()  # what came from the other is not shared back
    mirrored = second.state.store.take_dirty().deployments  # the second's mirror job may write it to the database
    assert [(row.key_id, row.model) for row in mirrored] == [(1, MODEL)]


async def test_an_open_circuit_and_an_invalid_key_reach_the_other(pair: tuple[Cluster, Cluster, FakeClock]) -> None:
    first, second, clock = pair
    store = first.state.store
    for model in (MODEL, OTHER_MODEL_KEY_FAILURE):  # failures across two models: the provider's, not a model's
        store.on_failure(KEY, model, fail(ErrorKind.UPSTREAM_5XX, 500), clock.t)
    assert store.circuits[1].open_until == clock.t + 20
    await within_a_second(lambda: not second.state.store.circuit_allows(1, clock.t))
    assert second.state.store.circuit_allows(1, clock.t + 20)  # its open period is the first's
    store.on_failure(key(2, 1, "k2"), MODEL, fail(ErrorKind.AUTH, 401), clock.t)
    await within_a_second(lambda: second.state.store.status(2, clock.t) == SkipReason.INVALID)


async def test_an_admin_reset_on_one_clears_the_cooldown_on_the_other(pair: tuple[Cluster, Cluster, FakeClock]) -> None:
    first, second, clock = pair
    first.state.store.on_failure(KEY, MODEL, rate_limited(after=60), clock.t)
    first.state.store.force_cooldown(1, 300)
    await within_a_second(lambda: second.state.store.status(1, clock.t) == "cooling" and reason(second, clock.t) is not None)
    first.state.store.reset_key(1)
    await within_a_second(lambda: reason(second, clock.t) is None)


async def test_an_instance_started_later_reads_the_shared_state(pair: tuple[Cluster, Cluster, FakeClock],
                                                                test_redis: RedisUnderTest) -> None:
    first, _, clock = pair
    first.state.store.on_failure(KEY, MODEL, rate_limited(after=12), clock.t)
    await first.state.flush()
    late = Cluster(test_redis.url, test_redis.prefix, new_store(clock))
    try:
        assert reason(late, clock.t) is SkipReason.COOLING
    finally:
        await late.link.close()


def budget(counters: SharedCounters, holder: str, spend: MonthSpend, micros: int) -> Awaitable[Hold | Refusal]:
    return counters.admit(None, {holder: spend}, "2026-12", lambda: micros)


async def test_token_rpm_holds_exactly_across_instances(pair: tuple[Cluster, Cluster, FakeClock]) -> None:
    first, second, _ = pair
    answers = await asyncio.gather(*(c.counters.admit(("token:7", 5), {}, "2026-12", lambda: 0)
                                     for _ in range(8) for c in (first, second)))
    assert answers.count(NO_HOLD) == 5
    refused = [answer for answer in answers if isinstance(answer, Refusal)]
    assert len(refused) == 11 and all(r.holder is None and 0 < r.wait <= 60 for r in refused)
    assert await first.counters.admit(("token:8", 5), {}, "2026-12", lambda: 0) is NO_HOLD  # another token has its own window


async def test_a_keys_rpm_holds_exactly_across_instances(pair: tuple[Cluster, Cluster, FakeClock]) -> None:
    first, second, _ = pair
    limits = Limits(rpm=3)
    answers = await asyncio.gather(*(c.counters.take_slot("key:4", limits, lambda: 0) for _ in range(4) for c in (first, second)))
    assert answers.count(None) == 3
    refused = [answer for answer in answers if answer is not None]
    assert all(limit == 0 and wait is not None and 0 < wait <= 60 for limit, wait in refused)  # 0: the rpm
    assert await first.counters.take_slot("key:5", limits, lambda: 0) is None  # another key, its own window
    assert await first.counters.admit(("token:4", 3), {}, "2026-12", lambda: 0) is NO_HOLD  # a token 4 is not key 4


async def test_a_keys_tpm_daily_tokens_and_monthly_spend_hold_across_instances(pair: tuple[Cluster, Cluster, FakeClock]) -> None:
    first, second, _ = pair
    per_minute = Limits(tpm=100)
    assert await first.counters.take_slot("key:6", per_minute, lambda: 60) is None  # 60 held
    assert await second.counters.take_slot("key:6", per_minute, lambda: 30) is None  # 90 held
    second.counters.note_usage("key:6", per_minute, 15, 45, 0)  # that call took 15 more than its estimate: 105 in the minute
    await second.counters.drain()
    over = await first.counters.take_slot("key:6", per_minute, lambda: 1)
    assert over is not None and over[0] == 1 and over[1] is not None and 0 < over[1] <= 60  # 1: the tpm
    per_day = Limits(daily_tokens=50)
    assert await first.counters.take_slot("key:7", per_day, lambda: 0) is None
    first.counters.note_usage("key:7", per_day, 0, 50, 0)
    await first.counters.drain()
    assert await second.counters.take_slot("key:7", per_day, lambda: 0) == (2, None)  # 2: the day's tokens
    per_month = Limits(monthly_usd_micros=1000)
    assert await first.counters.take_slot("key:8", per_month, lambda: 0) is None
    first.counters.note_usage("key:8", per_month, 0, 10, 999)
    await first.counters.drain()
    assert await second.counters.take_slot("key:8", per_month, lambda: 0) is None  # 999 of 1000
    second.counters.note_usage("key:8", per_month, 0, 10, 1)
    await second.counters.drain()
    assert await first.counters.take_slot("key:8", per_month, lambda: 0) == (3, None)  # 3: the month's spend


async def test_a_budget_is_passed_by_at_most_one_call_across_instances(pair: tuple[Cluster, Cluster, FakeClock]) -> None:
    first, second, _ = pair
    spends = {cluster: MonthSpend(1000, "2026-12", spent_micros=100) for cluster in (first, second)}
    holds = await asyncio.gather(*(budget(c.counters, "token:3", spends[c], 200) for _ in range(6) for c in (first, second)))
    taken = [hold for hold in holds if isinstance(hold, Hold)]
    assert len(taken) == 5  # 100 spent + 4 × 200 held = 900 < 1000: a fifth fits, a sixth does not
    assert {hold for hold in holds if isinstance(hold, Refusal)} == {Refusal("token:3")}
    for hold in taken:
        first.counters.settle(hold, "2026-12", 200)
    await first.counters.drain()
    assert await budget(second.counters, "token:3", spends[second], 1) == Refusal("token:3")  # 1100 spent: every instance refuses


async def test_an_rpm_and_two_budgets_are_one_step(pair: tuple[Cluster, Cluster, FakeClock]) -> None:
    """Refused by the person's budget: the token's hold is not taken either (its rpm slot is, as locally)."""
    first, _, _ = pair
    token, person = MonthSpend(1000, "2026-12"), MonthSpend(50, "2026-12", spent_micros=50)
    assert await first.counters.admit(("token:9", 100), {"token:9": token, "user:2": person}, "2026-12", lambda: 10) == Refusal("user:2")
    alone = await first.counters.admit(("token:9", 100), {"token:9": token}, "2026-12", lambda: 990)
    assert isinstance(alone, Hold) and alone.micros == 990  # the refused call held nothing of the token's 1000


async def test_a_killed_instance_hold_expires(pair: tuple[Cluster, Cluster, FakeClock], monkeypatch: pytest.MonkeyPatch) -> None:
    first, second, _ = pair
    monkeypatch.setattr("services.cluster.counters.HOLD_SECONDS", 1)
    spend = MonthSpend(500, "2026-12")
    assert isinstance(await budget(first.counters, "user:4", spend, 500), Hold)  # never settled
    assert await budget(second.counters, "user:4", spend, 10) == Refusal("user:4")
    await asyncio.sleep(2.1)
    assert isinstance(await budget(second.counters, "user:4", spend, 10), Hold)


async def test_a_jobs_period_runs_on_one_instance(pair: tuple[Cluster, Cluster, FakeClock]) -> None:
    first, second = pair[0], pair[1]
    runs = await asyncio.gather(*(cluster.run_once("retention", 3600) for cluster in (first, second, first, second)))
    assert runs.count(True) == 1


async def test_change_notices_reach_the_other_instance_only(pair: tuple[Cluster, Cluster, FakeClock]) -> None:
    first, second, _ = pair
    heard: dict[str, list[object]] = {"first": [], "second": []}
    first.feed.on("routing", heard["first"].append)
    second.feed.on("routing", heard["second"].append)
    first.feed.announce("routing", {"why": "key disabled"})
    await within_a_second(lambda: heard["second"] == [{"why": "key disabled"}])
    assert heard["first"] == []


async def test_a_sign_in_ticket_is_taken_once_on_any_instance(pair: tuple[Cluster, Cluster, FakeClock]) -> None:
    first, second, _ = pair
    first.put_once("ticket:abc", "[3, 1]", 60)
    assert await second.take_once("ticket:abc") == "[3, 1]"
    assert await first.take_once("ticket:abc") is None
    first.put_once("ticket:short", "[3, 1]", 0.05)
    await asyncio.sleep(0.2)
    assert await second.take_once("ticket:short") is None


async def test_failed_sign_ins_count_on_every_instance(pair: tuple[Cluster, Cluster, FakeClock]) -> None:
    first, second, clock = pair
    throttles = []
    for cluster in (first, second):
        throttle = SignInThrottle(clock, account_limit=4)
        throttle.on_record = lambda outcome, email, ip, feed=cluster.feed: feed.announce("throttle", [outcome, email, ip])
        cluster.feed.on("throttle", lambda data, throttle=throttle: throttle.replay(*data))
        throttles.append(throttle)
    for throttle in (*throttles, *throttles[:1]):  # two tries on the first, one on the second
        throttle.record_failure("ann@example.com", "10.0.0.9")
    await within_a_second(lambda: throttles[1].wait_seconds("ann@example.com", None) == 0 and
                          len(throttles[1]._failures["account:ann@example.com"]) == 3)
    throttles[1].record_failure("ann@example.com", "10.0.0.9")  # the fourth, on the second: the account locks there…
    assert throttles[1].wait_seconds("ann@example.com", None) > 0
    await within_a_second(lambda: throttles[0].wait_seconds("ann@example.com", None) > 0)  # …and on the first
    throttles[0].record_success("ann@example.com")
    await within_a_second(lambda: throttles[1].wait_seconds("ann@example.com", None) == 0)


async def test_a_scheduled_job_runs_once_per_period_in_the_cluster(pair: tuple[Cluster, Cluster, FakeClock]) -> None:
    ran: list[str] = []

    async def job(hub: Any) -> None:
        ran.append(hub.name)

    hubs = [SimpleNamespace(name=name, cluster=cluster) for name, cluster in zip(("a", "b"), pair[:2], strict=True)]
    name = "test-job-" + secrets.token_hex(3)
    runs = [once_per_cluster(hub, name, 3600, job) for hub in hubs]  # type: ignore[arg-type]
    await asyncio.gather(*(run() for run in runs))
    assert len(ran) == 1
    alone = SimpleNamespace(name="alone", cluster=None)  # no cluster: every run is this instance's
    await once_per_cluster(alone, "test-job", 3600, job)()  # type: ignore[arg-type]
    assert ran[1:] == ["alone"]

"""The router: resolve a requested model into ordered candidates and run one call with failover.

Order: routes by priority (1 first), a weighted shuffle within a priority; under each route the
provider's keys by key priority, a weighted shuffle within. Candidates that may not take the call
(disabled, invalid, exhausted, cooling, over a quota, circuit open) are skipped and the reason is
kept in the attempt trail. A retryable failure marks the key and moves on (5xx/timeout/connection
after a short jittered backoff) within an attempt and time budget; a client error returns at once.
When nothing is left but keys that recover soon, the router waits for the earliest, else it
answers 429 with ``Retry-After``; with nothing recoverable it answers 502.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any, Literal, TypeVar

from services.clock import Clock
from services.errors import TRANSIENT_FAILURES, ErrorKind, GatewayError, UpstreamError
from services.gateway.adapters import get_adapter
from services.gateway.adapters.base import Adapter, Target
from services.gateway.adapters.transport import UpstreamClient, WireTime
from services.gateway.key_state import TIMED_REASONS, KeyStateStore, SkipReason
from services.gateway.routing_table import KeyEntry, RouteEntry, RoutingTable

T = TypeVar("T")
MAX_PLANS = 1024
Outcome = Literal["skipped", "failed", "served", "waiting"]
AdapterCall = Callable[[Adapter, Target], Awaitable[T]]
"""One attempt of a call: what to do with the adapter and target of the candidate being tried."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    retry_budget: float = 30.0
    cooldown_wait_budget: float = 2.0
    backoff_base: float = 0.05
    backoff_cap: float = 1.0


@dataclass(frozen=True, slots=True)
class Candidate:
    """One (route, key) pair and where an attempt with it goes; built with a model's plan, not per call."""

    route: RouteEntry
    key: KeyEntry
    target: Target

    @classmethod
    def of(cls, route: RouteEntry, key: KeyEntry) -> Candidate:
        return cls(route, key, Target(route.provider.kind, route.provider.base_url, key.secret, route.upstream_model))

    @property
    def provider_id(self) -> int:
        return self.route.provider.id


@dataclass(slots=True)
class Attempt:
    """One line of the attempt trail: a candidate skipped, failed or served."""

    provider: str
    model: str
    key_id: int | None
    key_label: str | None
    outcome: Outcome
    reason: str | None = None  # skip reason or error kind
    status: int | None = None
    error: str | None = None
    ms: float | None = None
    backoff_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """This line for the usage row, without its empty fields. Written out field by field rather than
        looping over ``fields()`` (or ``asdict``, which deep-copies): one runs on every request."""
        line: dict[str, Any] = {"provider": self.provider, "model": self.model}
        if self.key_id is not None:
            line["key_id"] = self.key_id
        if self.key_label is not None:
            line["key_label"] = self.key_label
        line["outcome"] = self.outcome
        if self.reason is not None:
            line["reason"] = self.reason
        if self.status is not None:
            line["status"] = self.status
        if self.error is not None:
            line["error"] = self.error
        if self.ms is not None:
            line["ms"] = self.ms
        if self.backoff_ms is not None:
            line["backoff_ms"] = self.backoff_ms
        return line


@dataclass(slots=True)
class RouteTrail:
    """What the router did for one request; it becomes part of the usage record."""

    attempts: list[Attempt] = field(default_factory=list)
    served: Candidate | None = None
    upstream_ms: float = 0.0  # awaited on the wire only (services.gateway.adapters.transport.WireTime)

    def add(
        self,
        candidate: Candidate,
        outcome: Outcome,
        *,
        reason: str | None = None,
        status: int | None = None,
        error: str | None = None,
        ms: float | None = None,
    ) -> Attempt:
        attempt = Attempt(
            candidate.route.provider.name, candidate.route.upstream_model,
            candidate.key.id, candidate.key.label, outcome, reason, status, error, ms,
        )
        self.attempts.append(attempt)
        return attempt

    def as_dicts(self) -> list[dict[str, Any]]:
        return [attempt.as_dict() for attempt in self.attempts]


def weighted_order(items: Sequence[T], weight_of: Callable[[T], int], rng: random.Random) -> list[T]:
    """A random order in which heavier items tend to come first (weighted sampling without replacement)."""
    if len(items) < 2:
        return list(items)
    return sorted(items, key=lambda item: rng.random() ** (1.0 / max(weight_of(item), 1)), reverse=True)


def priority_tiers(items: Sequence[T], priority_of: Callable[[T], int]) -> tuple[tuple[T, ...], ...]:
    """``items`` grouped by priority, lowest number first."""
    return tuple(tuple(group) for _, group in groupby(sorted(items, key=priority_of), key=priority_of))


RouteTiers = tuple[tuple[tuple[RouteEntry, tuple[tuple[Candidate, ...], ...]], ...], ...]
"""A model's routes in priority tiers, each route with its candidates (one per key of its provider)
in the keys' priority tiers."""


def route_tiers(routes: Sequence[RouteEntry], table: RoutingTable) -> RouteTiers:
    return tuple(
        tuple(
            (route, priority_tiers([Candidate.of(route, key) for key in table.keys_for(route.provider.id)], lambda c: c.key.priority))
            for route in same_priority
        )
        for same_priority in priority_tiers(routes, lambda r: r.priority)
    )


class Router:
    def __init__(
        self,
        *,
        table: Callable[[], RoutingTable],
        states: KeyStateStore,
        client: UpstreamClient,
        clock: Clock,
        policy: RetryPolicy = RetryPolicy(),
        rng: random.Random | None = None,
        adapter_for: Callable[[str], Adapter] = get_adapter,
    ) -> None:
        self._table = table
        self.states = states
        self.client = client
        self.clock = clock
        self.policy = policy
        self.rng = rng or random.Random()
        self.adapter_for = adapter_for
        self._plans_of: RoutingTable | None = None
        self._plans: dict[str, RouteTiers] = {}

    def route_candidates(self, requested: str) -> list[Candidate] | None:
        """Every (route × key) for a model name in the order they would be tried; None if unknown."""
        tiers = self._tiers(requested)
        if tiers is None:
            return None
        ordered: list[Candidate] = []
        for routes in tiers:
            for _, key_tiers in weighted_order(routes, lambda pair: pair[0].weight, self.rng):
                for same_priority in key_tiers:
                    ordered.extend(weighted_order(same_priority, lambda c: c.key.weight, self.rng))
        return ordered

    def _tiers(self, requested: str) -> RouteTiers | None:
        """A model name's tiers, worked out once per routing table (only the weighted shuffles are left
        for each request). Unknown names are not kept, and at most ``MAX_PLANS`` names are: clients
        choose them (``provider/any-model``)."""
        table = self._table()
        if table is not self._plans_of or len(self._plans) >= MAX_PLANS:
            self._plans_of, self._plans = table, {}
        tiers = self._plans.get(requested)
        if tiers is None:
            routes = table.resolve(requested)
            if routes is None:
                return None
            tiers = self._plans[requested] = route_tiers(routes, table)
        return tiers

    async def execute(
        self,
        requested: str,
        call: AdapterCall[T],
        trail: RouteTrail,
    ) -> T:
        """Run ``call`` against candidates until one succeeds; raise GatewayError otherwise."""
        candidates = self.route_candidates(requested)
        if candidates is None:
            raise GatewayError(404, "model_not_found", f"The model `{requested}` does not exist or you do not have access to it.")
        if not candidates:
            raise GatewayError(
                502, "no_healthy_upstream", f"The model `{requested}` has no provider keys configured.", error_type="api_error"
            )
        started = self.clock.now()
        failures = 0
        waited = 0.0
        while True:
            recoveries: list[float] = []
            for candidate in candidates:
                if failures >= self.policy.max_attempts or self.clock.now() - started > self.policy.retry_budget:
                    break
                reason = self._skip_reason(candidate)
                if reason is not None:
                    trail.add(candidate, "skipped", reason=reason)
                    self._note_recovery(candidate, reason, recoveries)
                    continue
                try:
                    return await self._attempt(candidate, call, trail)
                except UpstreamError as error:
                    failures += 1
                    if error.kind is ErrorKind.RATE_LIMITED:
                        self._note_recovery(candidate, SkipReason.COOLING, recoveries)
                    if error.kind in TRANSIENT_FAILURES:
                        await self._backoff(failures, trail)
            pause = self._pause_before_retry(recoveries, failures, started, waited)
            if pause is None:
                raise self._exhausted(requested, recoveries, failures)
            trail.attempts.append(Attempt("-", requested, None, None, "waiting", reason="all_cooling", backoff_ms=round(pause * 1000, 1)))
            await self.clock.sleep(pause)
            waited += pause

    def _skip_reason(self, candidate: Candidate) -> SkipReason | None:
        if not candidate.route.provider.enabled:
            return SkipReason.DISABLED
        reason = self.states.skip_reason(candidate.key, self.clock.now())
        if reason is None and not self.states.circuit_allows(candidate.provider_id, self.clock.now()):
            return SkipReason.CIRCUIT_OPEN
        return reason

    def _note_recovery(self, candidate: Candidate, reason: SkipReason, recoveries: list[float]) -> None:
        if reason in TIMED_REASONS:
            moment = self.states.recovery_time(candidate.key, reason, self.clock.now())
            if moment is not None:
                recoveries.append(moment)

    async def _attempt(self, candidate: Candidate, call: AdapterCall[T], trail: RouteTrail) -> T:
        key = candidate.key
        self.states.note_request(key, self.clock.now())
        began = time.perf_counter()
        try:
            with WireTime() as wire:
                result = await call(self.adapter_for(candidate.target.kind), candidate.target)
        except UpstreamError as error:
            ms = (time.perf_counter() - began) * 1000
            trail.upstream_ms += wire.seconds * 1000
            trail.add(candidate, "failed", reason=error.kind.value, status=error.status, error=error.message[:300], ms=round(ms, 1))
            self.states.on_failure(key, error, self.clock.now())
            if not error.retryable:
                self.states.release_probe(candidate.provider_id)
                raise GatewayError.from_upstream(error) from None
            raise
        except BaseException:
            self.states.release_probe(candidate.provider_id)
            raise
        ms = (time.perf_counter() - began) * 1000
        trail.upstream_ms += wire.seconds * 1000
        trail.add(candidate, "served", ms=round(ms, 1))
        trail.served = candidate
        self.states.on_success(key)
        return result

    def stream_failed(self, candidate: Candidate, error: UpstreamError) -> None:
        """A stream broke after its first byte reached the client: count it against the key."""
        self.states.on_failure(candidate.key, error, self.clock.now())

    async def _backoff(self, failures: int, trail: RouteTrail) -> None:
        delay = min(self.policy.backoff_cap, self.policy.backoff_base * 2 ** (failures - 1))
        delay *= 0.5 + self.rng.random()
        if trail.attempts:
            trail.attempts[-1].backoff_ms = round(delay * 1000, 1)
        await self.clock.sleep(delay)

    def _pause_before_retry(self, recoveries: list[float], failures: int, started: float, waited: float) -> float | None:
        now = self.clock.now()
        future = [moment for moment in recoveries if moment > now]
        if not future or failures >= self.policy.max_attempts or now - started > self.policy.retry_budget:
            return None
        pause = min(future) - now
        return pause if waited + pause <= self.policy.cooldown_wait_budget else None

    def _exhausted(self, requested: str, recoveries: list[float], failures: int) -> GatewayError:
        now = self.clock.now()
        future = [moment for moment in recoveries if moment > now]
        if future:
            retry_after = max(1, math.ceil(min(future) - now))
            return GatewayError(
                429, "all_keys_cooling",
                f"Every key for `{requested}` is rate limited or cooling down; retry in {retry_after} s.",
                error_type="rate_limit_error", retry_after=retry_after,
            )
        if failures:
            return GatewayError(
                502, "all_upstreams_failed", f"Every upstream for `{requested}` failed; see the request log.", error_type="api_error"
            )
        return GatewayError(
            502, "no_healthy_upstream", f"No usable key for `{requested}`: all are disabled, invalid or exhausted.", error_type="api_error"
        )

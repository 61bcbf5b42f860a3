"""The router: run one call against a requested model's candidates, with failover.

Candidates come in the plan's order (``services.gateway.plan``). Those that may not take the call
(disabled, invalid, exhausted, cooling, failing, over a key's or a route's limit, circuit open, too
long for the route's context window) are skipped and the reason is kept in the attempt trail. A
retryable failure marks the deployment (or the key, for auth and quota) and moves on, after a short
jittered backoff for transient ones, within an attempt and time budget (a model's ``num_retries``
replaces the process setting); a client error returns at once, except that a request too long for a
route moves on to the model's context-window fallbacks. When nothing is left but candidates that
recover soon, the router waits for the earliest; else it answers 429 with ``Retry-After`` when what
blocks is a rate limit, 502 ``no_healthy_upstream`` with ``Retry-After`` when it is failing upstreams,
and 502 when nothing will recover by itself.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from services.clock import Clock
from services.errors import TRANSIENT_FAILURES, ErrorKind, GatewayError, UpstreamError
from services.gateway.adapters import get_adapter
from services.gateway.adapters.base import Adapter, Target
from services.gateway.adapters.transport import UpstreamClient, WireTime
from services.gateway.health import KEY_LIMIT_REASONS, ROUTE_LIMIT_REASONS, TIMED_REASONS, SkipReason
from services.gateway.key_state import KeyStateStore
from services.gateway.plan import Candidate, Plan, make_plan, ordered_candidates
from services.gateway.routing_table import Limits, RoutingTable
from services.gateway.trail import Attempt, RouteTrail

T = TypeVar("T")
MAX_PLANS = 1024
AdapterCall = Callable[[Adapter, Target], Awaitable[T]]
"""One attempt of a call: what to do with the adapter and target of the candidate being tried."""
RATE_REASONS = frozenset({
    SkipReason.COOLING, SkipReason.OVER_RPM, SkipReason.OVER_TPM, SkipReason.ROUTE_OVER_RPM, SkipReason.ROUTE_OVER_TPM,
})
"""Timed skip reasons that are rate limits (429 for the client); the others are failing upstreams (502)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    retry_budget: float = 30.0
    cooldown_wait_budget: float = 2.0
    backoff_base: float = 0.05
    backoff_cap: float = 1.0


@dataclass(slots=True)
class RequestFacts:
    """What the router knows of a request besides its model: its tags, and its size when asked."""

    tags: frozenset[str] = frozenset()
    prompt_tokens: Callable[[], int] | None = None  # an estimate, worked out only for a route with a known window
    _estimate: int | None = field(default=None, init=False)

    def estimate(self) -> int:
        if self._estimate is None:
            self._estimate = self.prompt_tokens() if self.prompt_tokens else 0
        return self._estimate


NO_FACTS = RequestFacts()


@dataclass(slots=True)
class Round:
    """One call's progress through its candidates."""

    started: float
    max_attempts: int
    failures: int = 0
    waited: float = 0.0
    too_long: bool = False  # the request did not fit some route: its context-window fallbacks may serve it
    recoveries: list[tuple[float, SkipReason]] = field(default_factory=list)


def candidate_skip_reason(states: KeyStateStore, candidate: Candidate, plan: Plan, request: RequestFacts, now: float) -> SkipReason | None:
    """Why ``candidate`` may not take the request at ``now``, or None (the router's check; the routing
    what-if replays recorded calls through it too)."""
    route = candidate.route
    if not route.provider.enabled:
        return SkipReason.DISABLED
    if plan.knows_windows and route.context_window is not None and request.estimate() > route.context_window:
        return SkipReason.TOO_LONG
    reason = states.skip_reason(candidate.key, route, candidate.deployment, now)
    if reason is None and not states.circuit_allows(candidate.provider_id, now):
        return SkipReason.CIRCUIT_OPEN
    return reason


class SharedLimitWindows(Protocol):
    """The rpm, tpm, daily-token and monthly-spend windows of keys and routes, counted across the instances of
    a cluster (``services.cluster``); a window is named by ``shared_windows``."""

    async def take_slot(self, window: str, limits: Limits, estimate: Callable[[], int]) -> tuple[int, float | None] | None:
        """None when a call may go now (counted, and with a tpm its prompt ``estimate`` held); else which limit it
        is over (0 rpm, 1 tpm, 2 daily tokens, 3 monthly spend) and, for a minute window, seconds until it has room."""

    def note_usage(self, window: str, limits: Limits, minute_tokens: int, tokens: int, cost_micros: int) -> None:
        """A metered call: ``minute_tokens`` (beyond its held estimate) into the minute, ``tokens`` into the UTC day,
        its cost into the UTC month."""


def shared_windows(candidate: Candidate) -> Iterator[tuple[str, Limits, tuple[SkipReason, ...]]]:
    """The limited windows a call through ``candidate`` counts in: its key's, and its route's (per key)."""
    if candidate.key.limits.any:
        yield f"key:{candidate.key.id}", candidate.key.limits, KEY_LIMIT_REASONS
    route = candidate.route
    if route.id is not None and route.limits.any:
        yield f"route:{route.id}:key:{candidate.key.id}", route.limits, ROUTE_LIMIT_REASONS


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
        shared_limits: SharedLimitWindows | None = None,
    ) -> None:
        """``shared_limits``: with several instances, the cluster's windows of the keys and routes that have limits."""
        self._table = table
        self.states = states
        self.client = client
        self.clock = clock
        self.policy = policy
        self.rng = rng or random.Random()
        self.adapter_for = adapter_for
        self.shared_limits = shared_limits
        self._plans_of: RoutingTable | None = None
        self._plans: dict[str, Plan] = {}

    @property
    def table(self) -> RoutingTable:
        """The routing snapshot in force now."""
        return self._table()

    def plan(self, requested: str) -> Plan | None:
        """A model name's plan, worked out once per routing table. Unknown names are not kept, and at
        most ``MAX_PLANS`` names are: clients choose them (``provider/any-model``)."""
        table = self._table()
        if table is not self._plans_of or len(self._plans) >= MAX_PLANS:
            self._plans_of, self._plans = table, {}
        plan = self._plans.get(requested)
        if plan is None:
            resolved = table.resolve(requested)
            if resolved is None:
                return None
            plan = self._plans[requested] = make_plan(resolved, table)
        return plan

    def route_candidates(self, requested: str, tags: frozenset[str] = frozenset()) -> list[Candidate] | None:
        """Every (route × key) for a model name in the order they would be tried; None if unknown."""
        plan = self.plan(requested)
        return None if plan is None else ordered_candidates(plan, self.rng, tags)

    async def execute(self, requested: str, call: AdapterCall[T], trail: RouteTrail, request: RequestFacts = NO_FACTS) -> T:
        """Run ``call`` against candidates until one succeeds; raise GatewayError otherwise."""
        plan = self.plan(requested)
        if plan is None:
            raise GatewayError(404, "model_not_found", f"The model `{requested}` does not exist or you do not have access to it.")
        candidates = ordered_candidates(plan, self.rng, request.tags)
        if not candidates:
            raise self._nothing_to_try(requested, plan, request)
        retries = plan.settings.num_retries
        state = Round(self.clock.now(), self.policy.max_attempts if retries is None else retries + 1)
        while True:
            state.recoveries = []
            for candidate in candidates:
                if self._out_of_budget(state):
                    break
                if candidate.route.context_fallback and not state.too_long:
                    continue  # serves only what did not fit before it; not a skip worth a line
                reason = self._skip_reason(candidate, plan, request)
                if reason is None and self.shared_limits is not None and (candidate.key.limits.any or candidate.route.limits.any):
                    reason = await self._shared_limit_reason(self.shared_limits, candidate, request, state)
                if reason is not None:
                    trail.add(candidate, "skipped", reason=reason)
                    state.too_long |= reason is SkipReason.TOO_LONG
                    self._note_recovery(candidate, reason, state)
                    continue
                try:
                    return await self._attempt(candidate, call, trail, request)
                except UpstreamError as error:
                    await self._failed(candidate, error, plan, state, trail)
            pause = self._pause_before_retry(state)
            if pause is None:
                raise self._exhausted(requested, state)
            trail.attempts.append(Attempt("-", requested, None, None, "waiting", reason="all_cooling", backoff_ms=round(pause * 1000, 1)))
            await self.clock.sleep(pause)
            state.waited += pause

    def _out_of_budget(self, state: Round) -> bool:
        return state.failures >= state.max_attempts or self.clock.now() - state.started > self.policy.retry_budget

    async def _failed(self, candidate: Candidate, error: UpstreamError, plan: Plan, state: Round, trail: RouteTrail) -> None:
        """After a failed attempt: go on to the next candidate, or raise what the client gets."""
        if error.kind is ErrorKind.CONTEXT_TOO_LONG and plan.context_fallback and not candidate.route.context_fallback:
            state.too_long = True
            return
        if not error.retryable:
            raise GatewayError.from_upstream(error) from None
        state.failures += 1
        if error.kind is ErrorKind.RATE_LIMITED:
            self._note_recovery(candidate, SkipReason.COOLING, state)
        if error.kind in TRANSIENT_FAILURES:
            await self._backoff(state.failures, trail)

    def _nothing_to_try(self, requested: str, plan: Plan, request: RequestFacts) -> GatewayError:
        if plan.has_keys and request.tags:
            return GatewayError(
                400, "no_route_for_tags", f"No route of `{requested}` carries the tags {sorted(request.tags)} (or `default`).",
                param="tags",
            )
        return GatewayError(
            502, "no_healthy_upstream", f"The model `{requested}` has no provider keys configured.", error_type="api_error"
        )

    def _skip_reason(self, candidate: Candidate, plan: Plan, request: RequestFacts) -> SkipReason | None:
        return candidate_skip_reason(self.states, candidate, plan, request, self.clock.now())

    async def _shared_limit_reason(self, shared: SharedLimitWindows, candidate: Candidate, request: RequestFacts,
                                   state: Round) -> SkipReason | None:
        """Over a key or route limit counted across the cluster (the local windows count this instance's calls
        only). A call the route's window refuses stays counted in the key's minute, as a refused attempt would."""
        for window, limits, reasons in shared_windows(candidate):
            over = await shared.take_slot(window, limits, request.estimate)
            if over is not None:
                reason, wait = reasons[over[0]], over[1]
                if wait is not None:
                    state.recoveries.append((self.clock.now() + wait, reason))
                return reason
        return None

    def note_shared_usage(self, served: Candidate, minute_tokens: int, tokens: int, cost_micros: int) -> None:
        """A metered call, into the cluster's windows of its key and route (when they have limits)."""
        if self.shared_limits is not None:
            for window, limits, _ in shared_windows(served):
                self.shared_limits.note_usage(window, limits, minute_tokens, tokens, cost_micros)

    def _note_recovery(self, candidate: Candidate, reason: SkipReason, state: Round) -> None:
        if reason in TIMED_REASONS:
            moment = self.states.recovery_time(candidate.key, candidate.route, candidate.deployment, reason)
            if moment is not None:
                state.recoveries.append((moment, reason))

    async def _attempt(self, candidate: Candidate, call: AdapterCall[T], trail: RouteTrail, request: RequestFacts) -> T:
        key = candidate.key
        self.states.note_request(key, candidate.route, self.clock.now(), request.estimate)
        began = time.perf_counter()
        try:
            with WireTime() as wire:
                result = await call(self.adapter_for(candidate.target.kind), candidate.target)
        except UpstreamError as error:
            ms = (time.perf_counter() - began) * 1000
            trail.upstream_ms += wire.seconds * 1000
            trail.add(candidate, "failed", reason=error.kind.value, status=error.status, error=error.message[:300], ms=round(ms, 1))
            self.states.on_failure(key, candidate.route.upstream_model, error, self.clock.now())
            if not error.retryable:
                self.states.release_probe(candidate.provider_id)
            raise
        except BaseException:
            self.states.release_probe(candidate.provider_id)
            raise
        ms = (time.perf_counter() - began) * 1000
        trail.upstream_ms += wire.seconds * 1000
        trail.add(candidate, "served", ms=round(ms, 1))
        trail.served = candidate
        self.states.on_success(key, candidate.deployment)
        return result

    def stream_failed(self, candidate: Candidate, error: UpstreamError) -> None:
        """A stream broke after its first byte reached the client: count it against the deployment."""
        self.states.on_failure(candidate.key, candidate.route.upstream_model, error, self.clock.now())

    async def _backoff(self, failures: int, trail: RouteTrail) -> None:
        delay = min(self.policy.backoff_cap, self.policy.backoff_base * 2 ** (failures - 1))
        delay *= 0.5 + self.rng.random()
        if trail.attempts:
            trail.attempts[-1].backoff_ms = round(delay * 1000, 1)
        await self.clock.sleep(delay)

    def _pause_before_retry(self, state: Round) -> float | None:
        now = self.clock.now()
        future = [moment for moment, _ in state.recoveries if moment > now]
        if not future or self._out_of_budget(state):
            return None
        pause = min(future) - now
        return pause if state.waited + pause <= self.policy.cooldown_wait_budget else None

    def _exhausted(self, requested: str, state: Round) -> GatewayError:
        now = self.clock.now()
        future = [(moment, reason) for moment, reason in state.recoveries if moment > now]
        if future:
            retry_after = max(1, math.ceil(min(moment for moment, _ in future) - now))
            if any(reason in RATE_REASONS for _, reason in future):
                return GatewayError(
                    429, "all_keys_cooling",
                    f"Every key for `{requested}` is rate limited or cooling down; retry in {retry_after} s.",
                    error_type="rate_limit_error", retry_after=retry_after,
                )
            return GatewayError(
                502, "no_healthy_upstream",
                f"Every upstream for `{requested}` is failing and resting; retry in {retry_after} s.",
                error_type="api_error", retry_after=retry_after,
            )
        if state.failures:
            return GatewayError(
                502, "all_upstreams_failed", f"Every upstream for `{requested}` failed; see the request log.", error_type="api_error"
            )
        if state.too_long:
            return GatewayError(
                400, "context_length_exceeded", f"The request is longer than the context window of every route of `{requested}`.",
                param="messages",
            )
        return GatewayError(
            502, "no_healthy_upstream", f"No usable key for `{requested}`: all are disabled, invalid or exhausted.", error_type="api_error"
        )

"""Replaying recorded calls against a proposed route list: the engine behind the routing what-if.

Each recorded call is routed again, in arrival order and at its recorded time, the way the router
routes: the plan's order (``services.gateway.plan``, one seeded generator for the weighted draws, so a
replay is repeatable), ``candidate_skip_reason`` for each candidate, and a ``KeyStateStore`` of its
own for limits, cooldowns, rests and circuits. So:

* the keys' and routes' rpm, tpm and daily-token limits count the replayed calls: a route list that
  sends a key more than its limits allow skips it (a failover), and answers 429 when every candidate
  is over a limit for longer than the router would wait (``wait_budget``);
* what an upstream did is taken from the record. A deployment whose attempt failed in the record (a
  429, a 5xx, a timeout…) fails the same way when the replay tries it for that call, with the same
  consequences (a 429 cools it down for ``default_cooldown``, as ``Retry-After`` is not recorded; a run
  of failures rests it or opens its provider's circuit). A deployment the record found cooling,
  resting, invalid or exhausted, or behind an open circuit, is skipped for that call. A deployment the
  record never tried is taken to answer.
* the answer costs its recorded tokens at the serving route's price (the route's own, else the price
  table's);
* its latency is the recorded one with the recorded upstream time swapped for the replayed one: the
  serving upstream model's time on this very call when the record has it, else that model's median
  latency over the window (``typical_ms``), else the recorded time (counted as estimated).

A request's routing tags are not recorded: every call is replayed as an untagged one.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from services.clock import SystemClock
from services.errors import ErrorKind, UpstreamError
from services.gateway.health import TIMED_REASONS, SkipReason
from services.gateway.key_state import KeyStateStore
from services.gateway.plan import Candidate, Plan, ordered_candidates
from services.gateway.pricing import PriceTable
from services.gateway.router import NO_FACTS, RATE_REASONS, RequestFacts, candidate_skip_reason

Upstream = tuple[str, str]
"""(provider name, upstream model)."""
DeploymentName = tuple[str, str, int | None]
"""(provider name, upstream model, key id): a deployment as attempt trails name it."""
RECORDED_HEALTH = frozenset({SkipReason.COOLING, SkipReason.FAILING, SkipReason.INVALID, SkipReason.EXHAUSTED, SkipReason.CIRCUIT_OPEN})
"""Skip reasons in a record that say how an upstream stood at that moment (limits are replayed instead)."""


@dataclass(frozen=True, slots=True)
class ReplayPolicy:
    """The router's settings the replay follows (the running hub's, by default the process defaults)."""

    max_attempts: int = 5
    wait_budget: float = 2.0
    default_cooldown: float = 30.0
    circuit_threshold: int = 5
    circuit_open_seconds: float = 30.0


@dataclass(slots=True)
class RecordedCall:
    """One usage record as the replay reads it."""

    at: float  # epoch seconds
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    cost_micros: int | None
    served_by: Upstream | None
    status: str
    failover: bool  # the record's trail holds a failed or skipped candidate
    upstream_ms: float  # time the record spent on upstream attempts, backoffs and waits
    served_ms: dict[Upstream, float]
    failures: dict[DeploymentName, tuple[ErrorKind, float]] | None = None  # attempts that failed, with their time
    health: dict[Any, SkipReason] | None = None  # how deployments, keys and providers stood (RECORDED_HEALTH)

    @classmethod
    def of(cls, at: float, prompt: int, completion: int, latency_ms: float, cost_micros: int | None, provider: str | None,
           upstream_model: str | None, status: str, attempts: str | bytes | list[dict[str, Any]] | None) -> RecordedCall:
        lines = orjson.loads(attempts) if isinstance(attempts, (str, bytes)) else attempts or []
        served_by = (provider, upstream_model) if provider is not None and upstream_model is not None else None
        if len(lines) == 1 and lines[0].get("outcome") == "served":  # most calls: one attempt, served
            ms = float(lines[0].get("ms") or 0.0)
            return cls(at, prompt or 0, completion or 0, latency_ms or 0.0, cost_micros, served_by, status, False, ms,
                       {(lines[0].get("provider", ""), lines[0].get("model", "")): ms})
        call = cls(at, prompt or 0, completion or 0, latency_ms or 0.0, cost_micros, served_by, status, False, 0.0, {})
        for line in lines:
            call._read(line)
        return call

    def _read(self, line: Mapping[str, Any]) -> None:
        outcome = line.get("outcome")
        ms = float(line.get("ms") or 0.0)
        self.upstream_ms += ms + float(line.get("backoff_ms") or 0.0)
        provider, model, key_id = line.get("provider", ""), line.get("model", ""), line.get("key_id")
        if outcome == "served":
            self.served_ms[(provider, model)] = ms
        elif outcome == "failed":
            self.failover = True
            if self.failures is None:
                self.failures = {}
            self.failures[(provider, model, key_id)] = (_error_kind(line.get("reason")), ms)
        elif outcome == "skipped":
            self.failover = True
            reason = line.get("reason")
            if reason in RECORDED_HEALTH:
                if self.health is None:
                    self.health = {}
                self.health[_health_subject(SkipReason(reason), provider, model, key_id)] = SkipReason(reason)

    def health_reason(self, candidate: Candidate) -> SkipReason | None:
        """How the record found this candidate's upstream, if it was unavailable then."""
        if self.health is None:
            return None
        route = candidate.route
        for subject in (("deployment", route.provider.name, route.upstream_model, candidate.key.id), ("key", candidate.key.id),
                        ("provider", route.provider.name)):
            reason = self.health.get(subject)
            if reason is not None:
                return reason
        return None


def _error_kind(reason: object) -> ErrorKind:
    try:
        return ErrorKind(str(reason))
    except ValueError:
        return ErrorKind.UPSTREAM_5XX


def _health_subject(reason: SkipReason, provider: str, model: str, key_id: int | None) -> tuple[Any, ...]:
    if reason is SkipReason.CIRCUIT_OPEN:
        return ("provider", provider)
    if reason in (SkipReason.INVALID, SkipReason.EXHAUSTED):
        return ("key", key_id)
    return ("deployment", provider, model, key_id)


ReplayStatus = Literal["served", "rate_limited", "failed"]


@dataclass(slots=True)  # not frozen: one or two are made per replayed call, and a frozen one costs twice as much to make
class ReplayOutcome:
    status: ReplayStatus
    route: int | None = None  # the index of the proposed route that served it
    cost_micros: int | None = None  # None: not served, or no price known for the route
    latency_ms: float | None = None  # served calls only
    latency_known: bool = True  # False: the serving upstream's latency was never recorded
    failover: bool = False


class Replay:
    """The proposed routes' plan and the state the replayed calls build up, one call at a time."""

    def __init__(
        self, plan: Plan, pricing: PriceTable, policy: ReplayPolicy, *, seed: int, typical_ms: Mapping[Upstream, float],
    ) -> None:
        self.plan = plan
        self.routes = [route for tier in plan.tiers for route, _ in tier]
        self._index = {id(route): i for i, route in enumerate(self.routes)}
        self.prices = [route.price or pricing.price(route.provider.kind, route.upstream_model) for route in self.routes]
        self.upstreams: list[Upstream] = [(route.provider.name, route.upstream_model) for route in self.routes]
        self.policy = policy
        self.rng = random.Random(seed)
        self.typical_ms = typical_ms
        self.states = KeyStateStore(SystemClock(), default_cooldown=policy.default_cooldown, circuit_threshold=policy.circuit_threshold,
                                    circuit_open_seconds=policy.circuit_open_seconds)
        self.skipped = [0] * len(self.routes)  # candidates passed over, per route
        self.failed = [0] * len(self.routes)  # attempts that failed, per route
        retries = plan.settings.num_retries
        self.max_attempts = policy.max_attempts if retries is None else retries + 1

    def route(self, call: RecordedCall) -> ReplayOutcome:
        """Route one recorded call, as the router would have at its time with the proposed routes."""
        candidates = ordered_candidates(self.plan, self.rng)
        request = RequestFacts(prompt_tokens=lambda: call.prompt_tokens) if self.plan.knows_windows else NO_FACTS
        now, waited, failures, spent_ms, too_long, failover = call.at, 0.0, 0, 0.0, False, False
        while True:
            recoveries: list[tuple[float, SkipReason]] = []
            for candidate in candidates:
                if failures >= self.max_attempts:
                    break
                if candidate.route.context_fallback and not too_long:
                    continue
                index = self._index[id(candidate.route)]
                recorded = call.health_reason(candidate) if call.health is not None else None
                reason = recorded or candidate_skip_reason(self.states, candidate, self.plan, request, now)
                if reason is not None:
                    self.skipped[index] += 1
                    failover = True
                    too_long |= reason is SkipReason.TOO_LONG
                    if reason in TIMED_REASONS and recorded is None:
                        self._note_recovery(candidate, reason, recoveries)
                    continue
                self.states.note_request(candidate.key, candidate.route, now, lambda: call.prompt_tokens)
                failure = call.failures.get(_name(candidate)) if call.failures else None
                if failure is None:
                    return self._served(call, candidate, index, now, spent_ms + waited * 1000, failover)
                failover = True
                self.failed[index] += 1
                spent_ms += failure[1]
                error = UpstreamError(failure[0], "as recorded")
                if error.kind is ErrorKind.CONTEXT_TOO_LONG and self.plan.context_fallback and not candidate.route.context_fallback:
                    too_long = True
                    continue
                self.states.on_failure(candidate.key, candidate.route.upstream_model, error, now)
                if not error.retryable:
                    self.states.release_probe(candidate.provider_id)
                    return ReplayOutcome("failed", failover=failover)
                failures += 1
                if error.kind is ErrorKind.RATE_LIMITED:
                    self._note_recovery(candidate, SkipReason.COOLING, recoveries)
            pause = self._pause(recoveries, now, waited, failures)
            if pause is None:
                rate_limited = any(moment > now and reason in RATE_REASONS for moment, reason in recoveries)
                return ReplayOutcome("rate_limited" if rate_limited else "failed", failover=failover)
            now, waited = now + pause, waited + pause

    def _served(self, call: RecordedCall, candidate: Candidate, index: int, now: float, spent_ms: float, failover: bool) -> ReplayOutcome:
        self.states.on_success(candidate.key, candidate.deployment)
        price = self.prices[index]
        cost = None if price is None else price.cost_micros(call.prompt_tokens, call.completion_tokens)
        tokens = call.prompt_tokens + call.completion_tokens
        self.states.note_usage(candidate.key.id, candidate.route, tokens, cost, now, held=call.prompt_tokens)
        upstream = self.upstreams[index]
        served_ms = call.served_ms.get(upstream)
        known = True
        if served_ms is None:
            served_ms = self.typical_ms.get(upstream)
        if served_ms is None:
            served_ms, known = next(iter(call.served_ms.values()), 0.0), False
        latency = max(0.0, call.latency_ms - call.upstream_ms + spent_ms + served_ms)
        return ReplayOutcome("served", index, cost, latency, known, failover)

    def _note_recovery(self, candidate: Candidate, reason: SkipReason, recoveries: list[tuple[float, SkipReason]]) -> None:
        moment = self.states.recovery_time(candidate.key, candidate.route, candidate.deployment, reason)
        if moment is not None:
            recoveries.append((moment, reason))

    def _pause(self, recoveries: list[tuple[float, SkipReason]], now: float, waited: float, failures: int) -> float | None:
        """How long the router would wait for the earliest recovery before trying again, or None."""
        future = [moment for moment, _ in recoveries if moment > now]
        if not future or failures >= self.max_attempts:
            return None
        pause = min(future) - now
        return pause if waited + pause <= self.policy.wait_budget else None


def _name(candidate: Candidate) -> DeploymentName:
    return (candidate.route.provider.name, candidate.route.upstream_model, candidate.key.id)

"""A requested model's plan: its routes and keys as candidates in the order they are tried.

Order: routes by priority (1 first), a weighted shuffle within a priority; under each route its keys
by key priority, a weighted shuffle within. Routes marked ``context_fallback`` come after all others,
whatever their priority: they serve only a request that did not fit the routes before them.

A plan is worked out once per requested name and routing table (the router caches it); only the
weighted shuffles and, for a model with tagged routes, the tag filter are left for each request.
Tags follow LiteLLM's tag routing: a request's tags pick the routes that share one; with none shared,
the routes tagged ``default``. A request without tags goes to the untagged and ``default`` routes, or
to every route when there are none.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import TypeVar

from services.gateway.adapters.base import Target
from services.gateway.health import Deployment
from services.gateway.routing_table import KeyEntry, ModelSettings, Resolved, RouteEntry, RoutingTable

T = TypeVar("T")
DEFAULT_TAG = "default"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One (route, key) pair and where an attempt with it goes; built with a model's plan, not per call."""

    route: RouteEntry
    key: KeyEntry
    target: Target
    deployment: Deployment

    @classmethod
    def of(cls, route: RouteEntry, key: KeyEntry, settings: ModelSettings) -> Candidate:
        provider = route.provider
        target = Target(
            provider.kind, provider.base_url, key.secret, route.upstream_model,
            route.headers, settings.timeout, settings.stream_timeout, route.params, settings.drop_params, provider.options,
        )
        return cls(route, key, target, (key.id, route.upstream_model))

    @property
    def provider_id(self) -> int:
        return self.route.provider.id


RouteTiers = tuple[tuple[tuple[RouteEntry, tuple[tuple[Candidate, ...], ...]], ...], ...]
"""Routes in priority tiers, each route with its candidates (one per key it uses) in the keys' priority tiers."""


@dataclass(frozen=True, slots=True)
class Plan:
    tiers: RouteTiers
    settings: ModelSettings
    tagged: bool  # some route has tags: requests are filtered by theirs
    context_fallback: bool  # some route serves only requests that do not fit the others
    knows_windows: bool  # some route has a known context window: a request's size is checked against it
    has_keys: bool  # some route has a key to call with


def make_plan(resolved: Resolved, table: RoutingTable) -> Plan:
    routes = resolved.routes
    ordinary = [r for r in routes if not r.context_fallback]
    fallbacks = [r for r in routes if r.context_fallback]
    tiers = route_tiers(ordinary, table, resolved.settings) + route_tiers(fallbacks, table, resolved.settings)
    return Plan(
        tiers,
        resolved.settings,
        tagged=any(r.tags for r in routes),
        context_fallback=bool(fallbacks),
        knows_windows=any(r.context_window for r in routes),
        has_keys=any(candidates for tier in tiers for _, key_tiers in tier for candidates in key_tiers),
    )


def route_tiers(routes: Sequence[RouteEntry], table: RoutingTable, settings: ModelSettings) -> RouteTiers:
    return tuple(
        tuple(
            (route, priority_tiers([Candidate.of(route, key, settings) for key in table.keys_for(route)], lambda c: c.key.priority))
            for route in same_priority
        )
        for same_priority in priority_tiers(routes, lambda r: r.priority)
    )


def ordered_candidates(plan: Plan, rng: random.Random, tags: frozenset[str] = frozenset()) -> list[Candidate]:
    """Every (route × key) in the order it would be tried for a request with ``tags``."""
    allowed = routes_for_tags(plan, tags) if plan.tagged else None
    ordered: list[Candidate] = []
    for routes in plan.tiers:
        if allowed is not None:
            routes = tuple(pair for pair in routes if id(pair[0]) in allowed)
        for _, key_tiers in routes if len(routes) < 2 else weighted_order(routes, _route_weight, rng):
            for same_priority in key_tiers:
                ordered.extend(same_priority if len(same_priority) < 2 else weighted_order(same_priority, _key_weight, rng))
    return ordered


def _route_weight(pair: tuple[RouteEntry, tuple[tuple[Candidate, ...], ...]]) -> int:
    return pair[0].weight


def _key_weight(candidate: Candidate) -> int:
    return candidate.key.weight


def routes_for_tags(plan: Plan, tags: frozenset[str]) -> set[int]:
    """The routes (by identity: a route is not hashable) a request with ``tags`` may use."""
    routes = [route for tier in plan.tiers for route, _ in tier]
    if tags:
        matching = {id(r) for r in routes if r.tags & tags}
        return matching or {id(r) for r in routes if DEFAULT_TAG in r.tags}
    plain = {id(r) for r in routes if not r.tags or DEFAULT_TAG in r.tags}
    return plain or {id(r) for r in routes}


def weighted_order(items: Sequence[T], weight_of: Callable[[T], int], rng: random.Random) -> list[T]:
    """A random order in which heavier items tend to come first (weighted sampling without replacement:
    each item's key is ``u ** (1 / weight)``, highest first). Two items, the common case, take one draw:
    the first comes first with probability w1 / (w1 + w2), which is what the keys give."""
    if len(items) < 2:
        return list(items)
    if len(items) == 2:
        first, second = items
        first_weight = max(weight_of(first), 1)
        return [first, second] if rng.random() * (first_weight + max(weight_of(second), 1)) < first_weight else [second, first]
    return sorted(items, key=lambda item: rng.random() ** (1.0 / max(weight_of(item), 1)), reverse=True)


def priority_tiers(items: Sequence[T], priority_of: Callable[[T], int]) -> tuple[tuple[T, ...], ...]:
    """``items`` grouped by priority, lowest number first."""
    return tuple(tuple(group) for _, group in groupby(sorted(items, key=priority_of), key=priority_of))

"""Router tests' stage: a routing table built by hand, a fake clock, seeded randomness, and an adapter
that answers from a script (by key secret, optionally by upstream model) instead of the network."""

from __future__ import annotations

import random
from typing import Any

import httpx

from services.errors import ErrorKind, GatewayError, UpstreamError
from services.gateway.adapters.base import Target
from services.gateway.health import SkipReason
from services.gateway.key_state import KeyStateStore
from services.gateway.router import RequestFacts, RetryPolicy, Router
from services.gateway.routing_table import (
    KeyEntry,
    Limits,
    ProviderEntry,
    RouteEntry,
    RoutingTable,
)
from services.gateway.trail import Attempt, RouteTrail
from tests.factories import FakeClock


class ScriptedAdapter:
    """Answers by key secret, or by ``secret@model`` for one model only: a list of outcomes consumed in
    order (the last one repeats)."""

    def __init__(self, script: dict[str, list[object]]) -> None:
        self.script = script
        self.calls: list[str] = []
        self.targets: list[Target] = []

    async def chat(self, _client: httpx.AsyncClient, target: Target, _body: dict) -> dict:
        self.calls.append(target.api_key)
        self.targets.append(target)
        outcomes = self.script.get(f"{target.api_key}@{target.model}") or self.script.get(target.api_key, ["ok"])
        outcome = outcomes.pop(0) if len(outcomes) > 1 else outcomes[0]
        if isinstance(outcome, UpstreamError):
            raise outcome
        return {"served_by": target.api_key, "model": target.model}


NEVER_SENDS = httpx.AsyncClient()
"""The routers' upstream client: the scripted adapter never uses it, so one is built for all (each
costs an SSL context, a fifth of a second on a busy machine: most of a router test's time)."""


def rate_limited(after: float | None = 10) -> UpstreamError:
    return UpstreamError(ErrorKind.RATE_LIMITED, "slow down", status=429, retry_after=after)


def fail(kind: ErrorKind, status: int | None = None) -> UpstreamError:
    return UpstreamError(kind, f"{kind.value} happened", status=status)


def providers_of(names: list[str]) -> dict[str, ProviderEntry]:
    return {name: ProviderEntry(i + 1, name, "openai", "http://upstream.invalid/v1", True) for i, name in enumerate(names)}


def build(keys_by_provider: dict[str, list[KeyEntry]], routes: list[tuple[str, int, int]], script: dict, **policy: float):
    providers = providers_of(list(keys_by_provider))
    models = {"smart": tuple(RouteEntry(providers[name], f"{name}-model", prio, weight) for name, prio, weight in routes)}
    return stage(keys_by_provider, models, script, **policy)


def stage(
    keys_by_provider: dict[str, list[KeyEntry]], models: dict[str, tuple[RouteEntry, ...]], script: dict, **extra: Any
) -> tuple[Router, ScriptedAdapter, FakeClock, KeyStateStore]:
    """A router over ``models`` (routes built with ``providers_of``); ``extra`` may hold the table's
    ``settings``, ``aliases`` and ``wildcards``, the rest is the retry policy."""
    providers = providers_of(list(keys_by_provider))
    table_parts = {name: extra.pop(name) for name in ("settings", "aliases", "wildcards") if name in extra}
    table = RoutingTable(
        {p.id: p for p in providers.values()},
        providers,
        {providers[name].id: tuple(keys) for name, keys in keys_by_provider.items()},
        models,
        **table_parts,
    )
    policy = extra
    clock = FakeClock()
    states = KeyStateStore(clock, default_cooldown=30, circuit_threshold=3, circuit_open_seconds=20)
    adapter = ScriptedAdapter(script)
    router = Router(
        table=lambda: table, states=states, client=NEVER_SENDS, clock=clock,
        policy=RetryPolicy(**policy), rng=random.Random(7), adapter_for=lambda _kind: adapter,
    )
    return router, adapter, clock, states


LIMIT_FIELDS = ("rpm", "tpm", "daily_tokens", "monthly_usd_micros")


def key(key_id: int, provider_id: int, secret: str, **extra: object) -> KeyEntry:
    limits = Limits(**{name: extra.pop(name) for name in LIMIT_FIELDS if name in extra})  # type: ignore[arg-type]
    return KeyEntry(key_id, provider_id, f"label-{key_id}", secret, limits=limits, **extra)  # type: ignore[arg-type]


def skip_reason(router: Router, key_entry: KeyEntry, now: float, model: str = "a-model") -> SkipReason | None:
    """What the key state says of ``key_entry`` serving ``model`` (a concrete route, so no route limits)."""
    route = RouteEntry(router._table().providers[key_entry.provider_id], model)
    return router.states.skip_reason(key_entry, route, (key_entry.id, model), now)


PLAIN_ROUTE = RouteEntry(ProviderEntry(1, "a", "openai", "http://upstream.invalid/v1", True), "a-model")


async def run(
    router: Router, model: str = "smart", facts: RequestFacts | None = None, trail: RouteTrail | None = None
) -> tuple[dict, RouteTrail]:
    trail = trail or RouteTrail()

    async def call(adapter, target):  # type: ignore[no-untyped-def]
        return await adapter.chat(router.client, target, {})

    return await router.execute(model, call, trail, facts or RequestFacts()), trail


async def refused_attempts(router: Router, model: str = "smart") -> list[Attempt]:
    """The attempt trail of a call the router refuses (a GatewayError is expected)."""
    trail = RouteTrail()
    try:
        await run(router, model, trail=trail)
    except GatewayError:
        return trail.attempts
    raise AssertionError(f"a call to {model} was served")

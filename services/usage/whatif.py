"""The routing what-if: what would a proposed route list have cost, and broken, on our own recorded traffic?

Every call to a logical model (under its name or an alias) recorded in a window is replayed against
the proposed routes (``services.usage.replay`` says how) and compared with what really happened:
cost, median and 95th-percentile latency, failovers, 429s, failures and calls without a known price,
for the whole window, per proposed route, and per UTC day (the chart). Calls refused before routing
(a token's model list, rpm or budget) are not replayed: no route list changes them.

The records are read in batches (``services.usage.scan``), and every figure is a running sum or a
fixed latency histogram (``services.usage.rollups``), so memory does not grow with the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field, model_validator
from sqlalchemy import tuple_
from sqlalchemy.engine import Engine

from services.catalog.inputs import Input, ModelName, RouteIn, UtcTime, usd_to_micros
from services.clock import DAY_SECONDS
from services.errors import CatalogError
from services.gateway.model_limits import default_limits
from services.gateway.plan import make_plan
from services.gateway.pricing import Price, PriceTable
from services.gateway.routing_table import Limits, Resolved, RouteEntry, RoutingTable
from services.tables import LATENCY_BUCKETS
from services.usage.queries import medians
from services.usage.replay import RecordedCall, Replay, ReplayOutcome, ReplayPolicy, Upstream
from services.usage.rollups import latency_bucket, percentile
from services.usage.scan import ATTEMPTS_TEXT, RAW, scan_window

DEFAULT_DAYS = 30
DEFAULT_POLICY = ReplayPolicy()
SEED = 18
"""The weighted draws' seed: the same proposal over the same records always gives the same answer."""
COLUMNS = (RAW.prompt_tokens, RAW.completion_tokens, RAW.latency_ms, RAW.cost_micros, RAW.provider_name, RAW.upstream_model,
           RAW.status, RAW.http_status, ATTEMPTS_TEXT)


class WhatIfRequest(Input):
    """A logical model, a proposed route list (the model editor's and the config file's route shape) and a window."""

    model: ModelName
    routes: list[RouteIn] = Field(min_length=1)
    since: UtcTime | None = Field(None, description="ISO 8601; default: `until` minus 30 days")
    until: UtcTime | None = Field(None, description="ISO 8601; default: now")

    @model_validator(mode="after")
    def _window(self) -> WhatIfRequest:
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ValueError("until: the window must end after it starts")
        return self


def usd(micros: float) -> float:
    return round(micros / 1_000_000, 6)


@dataclass(slots=True)
class Totals:
    """One side of the comparison (or one route), added up a call at a time."""

    requests: int = 0
    served: int = 0
    cost_micros: int = 0
    unpriced: int = 0
    failovers: int = 0
    rate_limited: int = 0
    failed: int = 0
    estimated_latency: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * LATENCY_BUCKETS)

    def add(self, outcome: ReplayOutcome, bucket: int) -> None:
        """Count one call; ``bucket`` is its latency's histogram bucket (worked out once for the sides that share it)."""
        self.requests += 1
        if outcome.failover:
            self.failovers += 1
        status = outcome.status
        if status == "served":
            self.served += 1
            if not outcome.latency_known:
                self.estimated_latency += 1
            cost = outcome.cost_micros
            if cost is None:
                self.unpriced += 1
            else:
                self.cost_micros += cost
            self.histogram[bucket] += 1
        elif status == "rate_limited":
            self.rate_limited += 1
        else:
            self.failed += 1

    def summary(self) -> dict[str, Any]:
        p50, p95 = percentile(self.histogram, 0.5), percentile(self.histogram, 0.95)
        return {
            "cost_usd": usd(self.cost_micros), "p50_ms": None if p50 is None else round(p50, 1),
            "p95_ms": None if p95 is None else round(p95, 1), "failovers": self.failovers, "rate_limited": self.rate_limited,
            "failed": self.failed, "unpriced": self.unpriced,
        }


def recorded_outcome(call: RecordedCall, http_status: int) -> ReplayOutcome:
    """What really happened to a call, in the replay's terms (the baseline)."""
    if call.served_by is None:
        return ReplayOutcome("rate_limited" if http_status == 429 else "failed", failover=call.failover)
    return ReplayOutcome("served", cost_micros=call.cost_micros, latency_ms=call.latency_ms, failover=call.failover)


@dataclass(slots=True)
class WhatIf:
    """The comparison as it is built; ``answer`` is the API's JSON body."""

    model: str
    since: datetime
    until: datetime
    routes: list[RouteEntry]  # in the request's order
    baseline: Totals = field(default_factory=Totals)
    proposed: Totals = field(default_factory=Totals)
    by_route: list[Totals] = field(default_factory=list)
    baseline_by_upstream: dict[Upstream, int] = field(default_factory=dict)
    daily: dict[float, list[int]] = field(default_factory=dict)  # UTC day (days since the epoch) → [baseline, proposed] micro-dollars

    def add(self, call: RecordedCall, http_status: int, outcome: ReplayOutcome) -> None:
        recorded = recorded_outcome(call, http_status)
        self.baseline.add(recorded, latency_bucket(recorded.latency_ms or 0.0))
        bucket = latency_bucket(outcome.latency_ms or 0.0)
        self.proposed.add(outcome, bucket)
        if call.served_by is not None:
            self.baseline_by_upstream[call.served_by] = self.baseline_by_upstream.get(call.served_by, 0) + 1
        if outcome.route is not None:
            self.by_route[outcome.route].add(outcome, bucket)
        day = self.daily.get(call.at // DAY_SECONDS)
        if day is None:
            day = self.daily[call.at // DAY_SECONDS] = [0, 0]
        day[0] += recorded.cost_micros or 0
        day[1] += outcome.cost_micros or 0

    def answer(self, replay: Replay) -> dict[str, Any]:
        return {
            "object": "routing.what_if", "model": self.model, "since": _iso(self.since), "until": _iso(self.until), "seed": SEED,
            "requests": self.baseline.requests, "baseline": self.baseline.summary(), "proposed": self.proposed.summary(),
            "delta_cost_usd": usd(self.proposed.cost_micros - self.baseline.cost_micros),
            "by_route": [self._route_line(replay, i) for i in range(len(self.routes))], "daily": self._days(),
        }

    def _route_line(self, replay: Replay, request_index: int) -> dict[str, Any]:
        route = self.routes[request_index]
        index = next(i for i, r in enumerate(replay.routes) if r.id == route.id)
        totals = self.by_route[index]
        summary = totals.summary()
        return {
            "provider": route.provider.name, "model": route.upstream_model, "priority": route.priority, "weight": route.weight,
            "requests": totals.served, "share": round(totals.served / self.proposed.requests, 4) if self.proposed.requests else 0.0,
            "cost_usd": summary["cost_usd"], "unpriced": totals.unpriced, "p50_ms": summary["p50_ms"], "p95_ms": summary["p95_ms"],
            "skipped": replay.skipped[index], "failed_attempts": replay.failed[index], "estimated_latency": totals.estimated_latency,
            "baseline_requests": self.baseline_by_upstream.get((route.provider.name, route.upstream_model), 0),
        }

    def _days(self) -> list[dict[str, Any]]:
        days = []
        moment = self.since.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        while moment < self.until:
            baseline, proposed = self.daily.get(moment.timestamp() // DAY_SECONDS, (0, 0))
            days.append({"day": moment.strftime("%Y-%m-%d"), "baseline_usd": usd(baseline), "proposed_usd": usd(proposed)})
            moment += timedelta(days=1)
        return days


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- the request: the model, its records' names, the proposed routes --------------------------------


def proposed_routes(table: RoutingTable, routes: Sequence[RouteIn]) -> list[RouteEntry]:
    """The proposed routes as the router's entries, checked against the providers and keys there are.
    Each gets a negative id of its own (a route's limits are counted per route and key)."""
    entries = []
    for index, route in enumerate(routes):
        provider = table.providers_by_name.get(route.provider)
        if provider is None:
            field = f"routes[{index}].provider"
            raise CatalogError(f"{field}: there is no provider named {route.provider!r}", field=field)
        labels = {key.label for key in table.keys_of(provider.id)}
        unknown = sorted(set(route.keys or ()) - labels)
        if unknown:
            raise CatalogError(f"routes[{index}].keys: {route.provider} has no key {', '.join(unknown)}", field=f"routes[{index}].keys")
        known = default_limits().upstream(route.model)
        entries.append(RouteEntry(
            provider, route.model, route.priority, route.weight, -(index + 1),
            frozenset(route.keys) if route.keys is not None else None,
            Limits(route.rpm, route.tpm, route.daily_tokens, usd_to_micros(route.monthly_usd)),
            Price(route.price.input, route.price.output) if route.price else None,
            tags=frozenset(route.tags or ()), context_fallback=route.context_fallback,
            context_window=route.context_window or (known.context if known else None),
        ))
    return entries


def model_names(table: RoutingTable, name: str) -> tuple[str, list[str]]:
    """The logical model behind ``name`` and every name its calls are recorded under (it and its aliases)."""
    resolved = table.resolve(name)
    if resolved is None or resolved.model is None or not table.is_logical(name):
        raise CatalogError(f"There is no enabled logical model named {name!r}.", field="model", status=404)
    model = resolved.model
    return model, [model, *sorted(alias for alias, target in table.aliases.items() if target == model)]


def typical_latency(engine: Engine, upstreams: Sequence[Upstream], since: datetime, until: datetime) -> dict[Upstream, float]:
    """The median latency of the successful calls each upstream model served in the window (any logical model)."""
    pair = tuple_(RAW.provider_name, RAW.upstream_model)
    found = medians(engine, RAW.latency_ms, (RAW.provider_name, RAW.upstream_model), pair.in_(list(upstreams)), RAW.status == "ok",
                    RAW.created_at >= since, RAW.created_at < until)
    return {(str(provider), str(model)): value for (provider, model), value in found.items()}


def what_if(
    engine: Engine, table: RoutingTable, pricing: PriceTable, request: WhatIfRequest, *, now: datetime,
    policy: ReplayPolicy = DEFAULT_POLICY, seed: int = SEED,
) -> dict[str, Any]:
    """Replay the window's calls to the model against the proposed routes; the API's answer."""
    model, names = model_names(table, request.model)
    until = request.until or now
    since = request.since or until - timedelta(days=DEFAULT_DAYS)
    if until <= since:
        raise CatalogError("until: the window must end after it starts (since defaults to 30 days before until)", field="until")
    routes = proposed_routes(table, request.routes)
    resolved = table.resolve(model) or Resolved(())
    plan = make_plan(Resolved(tuple(routes), resolved.settings, model), table)
    upstreams = sorted({(r.provider.name, r.upstream_model) for r in routes})
    replay = Replay(plan, pricing, policy, seed=seed, typical_ms=typical_latency(engine, upstreams, since, until))
    report = WhatIf(model, since, until, routes, by_route=[Totals() for _ in replay.routes])
    for batch in scan_window(engine, COLUMNS, since, until, RAW.requested_model.in_(names)):
        for at, row in batch:
            prompt, completion, latency, cost, provider, upstream, status, http_status, attempts = tuple(row)[2:]
            if attempts in (None, "[]", "null"):
                continue  # refused before routing
            call = RecordedCall.of(at, prompt, completion, latency, cost, provider, upstream, status, attempts)
            report.add(call, http_status, replay.route(call))
    return report.answer(replay)

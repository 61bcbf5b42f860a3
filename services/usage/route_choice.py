"""Why this route: for one recorded call, every candidate its model has, what became of each, and what
it would have cost at its price for this call's tokens.

The candidates are those of the model as it is routed now (its routes × their keys, in the router's
order); each is matched with the call's attempt trail by provider, upstream model and key. A
candidate in the trail keeps its outcome and reason (served; failed: rate limited, 5xx…; skipped:
cooling, failing, circuit open, over a limit…). One the router never reached says why not:

* ``lower_priority``: its route comes in a later priority tier than the one that served;
* ``lower_key_priority``: same route, a key of a later key tier;
* ``not_drawn``: same tier, but the weighted draw put it after the one that served;
* ``context_fallback``: it serves only requests that do not fit the routes before it;
* ``attempt_budget`` or ``client_error``: the call ended (out of attempts, or the request itself was
  refused) before its turn.

Trail lines for candidates the model no longer has (its routes changed since) are listed too, with
``current: false``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.gateway.plan import Candidate, make_plan
from services.gateway.pricing import PriceTable
from services.gateway.routing_table import RoutingTable

Where = tuple[int, int]  # (route tier, key tier) of a candidate in its plan


def _usd(micros: int | None) -> float | None:
    return None if micros is None else round(micros / 1_000_000, 6)


def route_choice(record: Mapping[str, Any], table: RoutingTable, pricing: PriceTable) -> list[dict[str, Any]]:
    """The candidates of ``record`` (a usage record as ``usage_detail`` answers it), in the router's order."""
    prompt, completion = int(record.get("prompt_tokens") or 0), int(record.get("completion_tokens") or 0)
    trail = {(a.get("provider"), a.get("model"), a.get("key_id")): a for a in record.get("attempts") or () if a.get("outcome") != "waiting"}
    resolved = table.resolve(str(record.get("requested_model") or ""))
    placed: list[tuple[Candidate, Where]] = []
    if resolved is not None:
        plan = make_plan(resolved, table)
        for route_tier, routes in enumerate(plan.tiers):
            for _, key_tiers in routes:
                placed.extend((candidate, (route_tier, key_tier)) for key_tier, same in enumerate(key_tiers) for candidate in same)
    served = next(((c, where) for c, where in placed if trail.get(_name(c), {}).get("outcome") == "served"), None)
    lines = []
    for candidate, where in placed:
        route = candidate.route
        price = route.price or pricing.price(route.provider.kind, route.upstream_model)
        attempt = trail.pop(_name(candidate), None)
        if attempt is not None:
            outcome, reason = attempt["outcome"], attempt.get("reason")
        else:
            outcome, reason = "not_reached", _not_reached(candidate, where, served, record)
        lines.append({
            "provider": route.provider.name, "model": route.upstream_model, "key_id": candidate.key.id, "key": candidate.key.label,
            "priority": route.priority, "weight": route.weight, "outcome": outcome, "reason": reason, "current": True,
            "cost_usd": _usd(None if price is None else price.cost_micros(prompt, completion)),
        })
    for (provider, model, key_id), attempt in trail.items():
        lines.append({"provider": provider, "model": model, "key_id": key_id, "key": attempt.get("key_label"), "priority": None,
                      "weight": None, "outcome": attempt.get("outcome"), "reason": attempt.get("reason"), "current": False,
                      "cost_usd": None})
    return lines


def _name(candidate: Candidate) -> tuple[str, str, int]:
    return (candidate.route.provider.name, candidate.route.upstream_model, candidate.key.id)


def _not_reached(candidate: Candidate, where: Where, served: tuple[Candidate, Where] | None, record: Mapping[str, Any]) -> str:
    if candidate.route.context_fallback:
        return "context_fallback"
    if served is None:
        status = int(record.get("http_status") or 0)
        return "client_error" if 400 <= status < 500 and status != 429 else "attempt_budget"
    server, served_where = served
    if where[0] > served_where[0]:
        return "lower_priority"
    if candidate.route is server.route and where[1] > served_where[1]:
        return "lower_key_priority"
    return "not_drawn"

"""A logical model's health at a glance, for the Models list: can the router serve it right now, and from
its first choice? Read from the routing snapshot and the in-memory key state only, so a page can show it
for every model on each refresh."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from services.catalog.views import ModelPublic, RoutePublic, live_status
from services.gateway.key_state import KeyStateStore
from services.gateway.routing_table import RoutingTable

State = Literal["ready", "degraded", "unavailable", "disabled"]


@dataclass(frozen=True, slots=True)
class ModelStatus:
    state: State
    detail: str


def _usable(route: RoutePublic, table: RoutingTable, states: KeyStateStore) -> bool:
    """The route's provider is enabled and one of the keys it may use is active and not cooling or
    resting for the route's model (a keyless provider's own key counts)."""
    provider = table.providers_by_name.get(route.provider)
    if provider is None or not provider.enabled:
        return False
    keys = [key for key in table.keys_of(provider.id) if route.keys is None or key.label in route.keys]
    now = states.clock.now()
    troubled = {key.id for key in keys for d in states.deployment_statuses(key.id, now) if d.model == route.model and d.status != "active"}
    return any(live_status(states, key.id, key.enabled)[0] == "active" and key.id not in troubled for key in keys)


def model_status(model: ModelPublic, table: RoutingTable, states: KeyStateStore) -> ModelStatus:
    if not model.enabled:
        return ModelStatus("disabled", "clients get model_not_found")
    if not model.routes:
        return ModelStatus("unavailable", "no routes")
    usable = [route for route in model.routes if _usable(route, table, states)]
    if not usable:
        return ModelStatus("unavailable", "no route has an active key")
    first = min(route.priority for route in model.routes)
    if any(route.priority == first for route in usable):
        return ModelStatus("ready", f"{len(usable)} of {len(model.routes)} routes ready")
    return ModelStatus("degraded", f"first choice down; served by {usable[0].provider}/{usable[0].model}")

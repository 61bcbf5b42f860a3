"""Checks on a logical model's route list before it is saved, worded for the console's route editor.

The catalog refuses what cannot be saved anyway (unknown provider, duplicate route); these checks
say it next to the offending field before the round trip, and add warnings the catalog cannot
give: a route to a provider that is disabled or has no enabled key (and is not keyless) is saved but
always skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from services.catalog.views import ProviderPublic


@dataclass(frozen=True, slots=True)
class RouteIssue:
    index: int  # position in the route list
    field: Literal["provider", "model"]
    message: str
    blocking: bool = True  # False: a warning; saving is still allowed


def check_routes(routes: Sequence[Mapping[str, Any]], providers: Sequence[ProviderPublic]) -> list[RouteIssue]:
    """``routes`` are ``{"provider": name or None, "model": text}`` rows in the editor's order."""
    by_name = {p.name: p for p in providers}
    issues: list[RouteIssue] = []
    seen: dict[tuple[str, str], int] = {}
    if not routes:
        issues.append(RouteIssue(0, "provider", "add at least one route"))
    for index, route in enumerate(routes):
        name = route.get("provider") or ""
        model = str(route.get("model") or "").strip()
        provider = by_name.get(name)
        if not name:
            issues.append(RouteIssue(index, "provider", "choose a provider"))
        elif provider is None:
            issues.append(RouteIssue(index, "provider", f"no provider named {name!r}"))
        elif not provider.enabled:
            issues.append(RouteIssue(index, "provider", "this provider is disabled: the route is skipped", blocking=False))
        elif not provider.keyless and not any(k.enabled for k in provider.keys):
            issues.append(RouteIssue(index, "provider", "no enabled key: the route is skipped", blocking=False))
        if not model:
            issues.append(RouteIssue(index, "model", "enter the provider's model name"))
        elif name and (name, model) in seen:
            issues.append(RouteIssue(index, "model", f"the same route as #{seen[name, model] + 1}"))
        else:
            seen[name, model] = index
    return issues

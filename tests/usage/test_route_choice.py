"""Why this route: every candidate of a recorded call's model, what became of it and why, and its cost
at its own price for the call's tokens."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.gateway.pricing import Price, PriceTable
from services.gateway.routing_table import KeyEntry, ProviderEntry, RouteEntry, RoutingTable
from services.usage.route_choice import route_choice

EMU = ProviderEntry(1, "emu", "openai", "http://emu.invalid/v1", True)
ALT = ProviderEntry(2, "alt", "openai", "http://alt.invalid/v1", True)
TABLE = RoutingTable(
    {1: EMU, 2: ALT}, {"emu": EMU, "alt": ALT},
    {1: (KeyEntry(1, 1, "primary", "s1"), KeyEntry(2, 1, "backup", "s2"), KeyEntry(4, 1, "spare", "s4", priority=2)),
     2: (KeyEntry(3, 2, "main", "s3"),)},
    {"smart": (
        RouteEntry(EMU, "gpt-4o", 1, 3, id=1),
        RouteEntry(ALT, "gpt-4o", 1, 1, id=2),
        RouteEntry(ALT, "gpt-4o-mini", 2, 1, id=3, price=Price(Decimal("0.15"), Decimal("0.6"))),
        RouteEntry(ALT, "long-one", 3, 1, id=4, context_fallback=True),
    )},
)
PRICES = PriceTable({"openai": {"gpt-4o": Price(Decimal("2.5"), Decimal("10"))}})


def line(provider: str, model: str, key_id: int, outcome: str, reason: str | None = None) -> dict[str, Any]:
    return {"provider": provider, "model": model, "key_id": key_id, "key_label": "k", "outcome": outcome, "reason": reason}


def record(attempts: list[dict[str, Any]], http_status: int = 200) -> dict[str, Any]:
    return {"requested_model": "smart", "prompt_tokens": 1000, "completion_tokens": 200, "http_status": http_status, "attempts": attempts}


def test_each_candidate_says_what_became_of_it_and_what_it_would_have_cost() -> None:
    served_by_backup = record([line("emu", "gpt-4o", 1, "skipped", "cooling"), line("emu", "gpt-4o", 2, "served"),
                               line("emu", "gpt-4o", 9, "failed", "auth")])  # key 9 was deleted since
    lines = [(c["provider"], c["model"], c["key"], c["outcome"], c["reason"], c["cost_usd"], c["current"])
             for c in route_choice(served_by_backup, TABLE, PRICES)]
    # 1000 × 2.5 + 200 × 10 = 4500 µ$ at the table's price; 1000 × 0.15 + 200 × 0.6 = 270 µ$ at the route's own
    assert lines == [
        ("emu", "gpt-4o", "primary", "skipped", "cooling", 0.0045, True),
        ("emu", "gpt-4o", "backup", "served", None, 0.0045, True),
        ("emu", "gpt-4o", "spare", "not_reached", "lower_key_priority", 0.0045, True),
        ("alt", "gpt-4o", "main", "not_reached", "not_drawn", 0.0045, True),
        ("alt", "gpt-4o-mini", "main", "not_reached", "lower_priority", 0.00027, True),
        ("alt", "long-one", "main", "not_reached", "context_fallback", None, True),
        ("emu", "gpt-4o", "k", "failed", "auth", None, False),
    ]


def test_a_call_that_ended_early_says_why_the_rest_were_not_tried() -> None:
    circuit = [line("emu", "gpt-4o", 1, "failed", "upstream_5xx"), line("emu", "gpt-4o", 2, "skipped", "circuit_open")]
    failed = {(c["key"], c["model"]): c["reason"] for c in route_choice(record(circuit, 502), TABLE, PRICES)}
    assert failed[("primary", "gpt-4o")] == "upstream_5xx" and failed[("backup", "gpt-4o")] == "circuit_open"
    assert failed[("main", "gpt-4o-mini")] == "attempt_budget"
    refused = route_choice(record([line("emu", "gpt-4o", 1, "failed", "bad_request")], 400), TABLE, PRICES)
    assert {c["reason"] for c in refused if c["outcome"] == "not_reached"} >= {"client_error"}
    assert route_choice({**record([]), "requested_model": "gone"}, TABLE, PRICES) == []

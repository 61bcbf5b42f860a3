"""The fields of one LiteLLM deployment that become route settings: order and weight, rpm/tpm,
a price, default request parameters, tags and a context window. Each reads what LiteLLM reads and
notes on the entry's report what it had to drop or change."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from services.catalog.inputs import DEFAULTABLE_PARAMS, MAX_USD
from services.catalog.litellm_report import EntryReport


def number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    return float(value) if isinstance(value, int | float) else None


def positive_int(value: object) -> int | None:
    whole = number(value)
    return int(whole) if whole is not None and whole.is_integer() and whole >= 1 else None


def order_and_weight(params: Mapping[str, Any], report: EntryReport) -> dict[str, int]:
    values: dict[str, int] = {}
    for ours, theirs in (("priority", "order"), ("weight", "weight")):
        if params.get(theirs) is None:
            continue
        value = positive_int(params[theirs])
        if value is None:
            report.change(f"{theirs} {params[theirs]!r} is not a whole number ≥ 1; {ours} 1 used")
        else:
            values[ours] = value
    return values


def limits(params: Mapping[str, Any], entry: Mapping[str, Any], model_info: Mapping[str, Any], report: EntryReport) -> dict[str, int]:
    """rpm/tpm from litellm_params, the entry itself or model_info (LiteLLM reads all three)."""
    limits: dict[str, int] = {}
    for limit in ("rpm", "tpm"):
        raw = next((place[limit] for place in (params, entry, model_info) if place.get(limit) is not None), None)
        if raw is None:
            continue
        value = positive_int(raw)
        if value is None:
            report.change(f"{limit} {raw!r} is not a whole number ≥ 1; no limit set")
        else:
            limits[limit] = value
    return limits


PER_MILLION = Decimal(1_000_000)
MICRO = Decimal("0.000001")


def price(params: Mapping[str, Any], model_info: Mapping[str, Any], report: EntryReport) -> dict[str, Any]:
    """``input_cost_per_token``/``output_cost_per_token`` (model_info or litellm_params) → a route price
    in USD per million tokens; a side left out costs 0."""
    costs: dict[str, Decimal] = {}
    for side in ("input", "output"):
        name = f"{side}_cost_per_token"
        raw = next((place[name] for place in (model_info, params) if place.get(name) is not None), None)
        if raw is None:
            continue
        try:
            per_million = (Decimal(str(raw)) * PER_MILLION).quantize(MICRO, rounding=ROUND_HALF_UP)
        except (InvalidOperation, ValueError):
            per_million = Decimal(-1)
        if not 0 <= per_million <= MAX_USD or isinstance(raw, bool):
            report.change(f"{side}_cost_per_token {raw!r} is not a price; the shipped price table is used")
            return {}
        costs[side] = per_million
    if not costs:
        return {}
    for side in ("input", "output"):
        if side not in costs:
            report.change(f"{side}_cost_per_token not given: {side} tokens priced at 0")
    return {"price": {side: format(costs.get(side, Decimal(0)).normalize(), "f") for side in ("input", "output")}}


def default_params(params: Mapping[str, Any]) -> dict[str, Any]:
    defaults = {name: params[name] for name in sorted(DEFAULTABLE_PARAMS) if params.get(name) is not None}
    return {"params": defaults} if defaults else {}


def tags(params: Mapping[str, Any], report: EntryReport) -> dict[str, list[str]]:
    given = params.get("tags")
    if given is None:
        return {}
    given = [given] if isinstance(given, str) else given
    tags = [t.strip() for t in given if isinstance(t, str) and 0 < len(t.strip()) <= 200] if isinstance(given, list) else []
    if not isinstance(given, list) or len(tags) != len(given):
        report.change("tags: only non-empty strings are kept")
    return {"tags": sorted(set(tags))} if tags else {}


def context_window(model_info: Mapping[str, Any], report: EntryReport) -> dict[str, int]:
    raw = model_info.get("max_input_tokens")
    if raw is None:
        return {}
    value = positive_int(raw)
    if value is None:
        report.change(f"model_info.max_input_tokens {raw!r} is not a whole number ≥ 1; ignored")
        return {}
    return {"context_window": value}

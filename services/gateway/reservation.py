"""A call's worst-case cost, reserved on its budgets at admission (``TokenRegistry.admit``) and released
when it is metered, so that calls admitted together cannot overshoot a budget by more than one of them.

Worst case: the prompt's estimate plus the completion's allowance (``max_completion_tokens``,
``max_tokens`` or the Responses API's ``max_output_tokens``, times ``n``; else
``LLMHUB_RESERVED_COMPLETION_TOKENS``) at the dearest price among the routes the requested name may
take. Only computed for callers with a budget.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.gateway.pricing import PriceTable
from services.gateway.routing_table import RoutingTable
from services.gateway.token_count import estimate_tokens

DEFAULT_RESERVED_COMPLETION_TOKENS = 1024


def completion_allowance(body: dict[str, Any], default: int) -> int:
    """The most completion tokens a body lets the upstream produce (validated: ints ≥ 1 or absent)."""
    limit = body.get("max_completion_tokens") or body.get("max_tokens") or body.get("max_output_tokens") or default
    choices = body.get("n") or 1
    return int(limit) * int(choices)


def embedding_prompt_tokens(body: dict[str, Any]) -> int:
    """An embeddings input's size in tokens, about (token-id lists count their ids)."""
    given = body.get("input")
    items = given if isinstance(given, list) else [given]
    chars = sum(len(item) for item in items if isinstance(item, str))
    ids = sum(len(item) if isinstance(item, list) else 1 for item in items if not isinstance(item, str))
    return estimate_tokens(chars) + ids


def call_allowance(body: dict[str, Any], endpoint: str, prompt_chars: Callable[[dict[str, Any]], int],
                   default_completion: int) -> tuple[int, int]:
    """The prompt and completion tokens a call may take at most: ``prompt_chars`` reads the body of its
    endpoint (a chat body, a Messages or Responses body)."""
    if endpoint == "embeddings":
        return embedding_prompt_tokens(body), 0
    return estimate_tokens(prompt_chars(body)), completion_allowance(body, default_completion)


def worst_case_micros(table: RoutingTable, pricing: PriceTable, model: str, allowance: tuple[int, int]) -> int:
    """The dearest cost the call could have on any route of ``model`` (0 when none is priced)."""
    resolved = table.resolve(model)
    if resolved is None:
        return 0
    prompt, completion = allowance
    worst = 0
    for route in resolved.routes:
        price = route.price or pricing.price(route.provider.kind, route.upstream_model)
        if price is not None:
            worst = max(worst, price.cost_micros(prompt, completion))
    return worst

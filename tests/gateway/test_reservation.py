"""A call's worst-case cost, the reservation a budget holds at admission: the completion allowance a
body grants, an embeddings input's size, and the dearest priced route of the name asked for."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.gateway.pricing import Price, PriceTable
from services.gateway.reservation import call_allowance, completion_allowance, embedding_prompt_tokens, worst_case_micros
from services.gateway.routing_table import RouteEntry, RoutingTable
from tests.gateway.scripted import key, providers_of

PROVIDERS = providers_of(["a", "b"])
PRICES = PriceTable({"openai": {"cheap": Price(Decimal(1), Decimal(2)), "dear": Price(Decimal(3), Decimal(10))}})


@pytest.mark.parametrize(("body", "allowance"), [
    ({}, 1024),
    ({"max_tokens": 50}, 50),
    ({"max_completion_tokens": 70, "max_tokens": 50}, 70),
    ({"max_output_tokens": 30}, 30),
    ({"max_tokens": 50, "max_output_tokens": 30}, 50),
    ({"max_tokens": 50, "n": 3}, 150),
    ({"n": 2}, 2048),
])
def test_the_completion_allowance_is_the_bodys_limit_times_its_choices(body: dict, allowance: int) -> None:
    assert completion_allowance(body, 1024) == allowance


@pytest.mark.parametrize(("given", "tokens"), [
    ("abcdefgh", 2),
    (["abcd", "abcdefgh"], 3),
    ([[1, 2, 3], [4]], 4),
    ([7, 8, 9], 3),
    ("abcde", 2),
])
def test_an_embeddings_input_counts_its_text_and_its_token_ids(given: object, tokens: int) -> None:
    assert embedding_prompt_tokens({"input": given}) == tokens


def test_a_call_allowance_reads_the_endpoints_body() -> None:
    def chars(body: dict) -> int:
        return len(body["text"])

    assert call_allowance({"text": "x" * 40, "max_tokens": 5}, "chat", chars, 1024) == (10, 5)
    assert call_allowance({"input": "x" * 40}, "embeddings", chars, 1024) == (10, 0)
    assert call_allowance({"text": "x" * 4}, "chat", chars, 512) == (1, 512)


def table(*routes: RouteEntry) -> RoutingTable:
    keys = {p.id: (key(p.id, p.id, f"k{p.id}"),) for p in PROVIDERS.values()}
    return RoutingTable({p.id: p for p in PROVIDERS.values()}, PROVIDERS, keys, {"smart": routes})


def test_the_worst_case_is_the_dearest_priced_route() -> None:
    routes = table(RouteEntry(PROVIDERS["a"], "cheap"), RouteEntry(PROVIDERS["b"], "dear"), RouteEntry(PROVIDERS["a"], "unpriced"))
    assert worst_case_micros(routes, PRICES, "smart", (100, 10)) == 3 * 100 + 10 * 10
    assert worst_case_micros(routes, PRICES, "nope", (100, 10)) == 0
    own_price = table(RouteEntry(PROVIDERS["a"], "cheap", price=Price(Decimal(50), Decimal(0))))
    assert worst_case_micros(own_price, PRICES, "smart", (100, 10)) == 5000  # a route's own price wins
    assert worst_case_micros(table(RouteEntry(PROVIDERS["a"], "unpriced")), PRICES, "smart", (100, 10)) == 0

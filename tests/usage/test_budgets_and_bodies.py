"""Budgets the gateway enforces (a token's and its person's) and body logging, on a real Hub in front of the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from services.accounts.audit import AuditFilter, list_events
from services.errors import GatewayError, SettingError
from services.gateway.adapters.shapes import prompt_chars
from services.gateway.reservation import DEFAULT_RESERVED_COMPLETION_TOKENS, call_allowance, worst_case_micros
from services.hub import Hub
from services.tables import UsageBody, UsageRecord
from services.usage.budgets import set_user_budget
from services.usage.settings import REDACTED, set_body_logging
from tests.factories import MASTER_PRINCIPAL, TEST_ACTOR, add_person, emulated_hub, gateway_principal
from tests.upstream_emulator import EMBEDDING_SIZE, EmulatorHandle, answer_for

CONFIG = """
providers:
  - name: emu
    kind: openai
    base_url: {url}/v1
    keys:
      - label: main
        secret: ok#budget-1
models:
  - name: smart
    routes:
      - provider: emu
        model: gpt-4o
  - name: embed
    routes:
      - provider: emu
        model: text-embedding-3-small
  - name: broken
    routes:
      - provider: emu
        model: gpt-4o@error-500
"""
LEAKY = "my key is sk-proj-abcdefghijklmnop1234, please keep it"


@pytest.fixture
async def hub(tmp_path: Path, emulator: EmulatorHandle) -> AsyncIterator[Hub]:
    """Not started: the tests flush the usage recorder themselves."""
    async with emulated_hub(tmp_path / "data", emulator, CONFIG) as hub:
        yield hub


def chat(text: str = "hi") -> dict:
    return {"model": "smart", "messages": [{"role": "user", "content": text}]}


async def test_a_token_budget_stops_the_token_once_spent(hub: Hub) -> None:
    bob = add_person(hub, "bob@example.com")
    capped, free = gateway_principal(hub, bob, "capped", budget_micros=1), gateway_principal(hub, bob, "free")
    await hub.gateway.chat(capped, chat())  # under budget when admitted; its cost uses the budget up
    with pytest.raises(GatewayError) as refused:
        await hub.gateway.chat(capped, chat())
    assert (refused.value.status, refused.value.code) == (429, "budget_exceeded")
    assert refused.value.body()["error"]["type"] == "insufficient_quota"
    answer, _ = await hub.gateway.chat(free, chat())  # the person's other token is not capped
    assert answer["choices"][0]["message"]["content"]


async def test_concurrent_calls_overshoot_a_budget_by_at_most_one_reservation(hub: Hub) -> None:
    """Issue #16 finding 2: 50 calls at once on a $0.01 budget, each about $0.00126 (100 words in, 101 out at
    gpt-4o's price). Each holds its worst case (its prompt's estimate and ``max_tokens`` at the route's
    price) from admission until it is metered, so the budget refuses once the calls in flight could use
    it up; before, all 50 were admitted (6.3 times the budget)."""
    budget = 10_000
    eve = add_person(hub, "eve@example.com")
    capped = gateway_principal(hub, eve, "capped", budget_micros=budget)
    body = {**chat(" ".join(["word"] * 100)), "max_tokens": 200}
    allowance = call_allowance(body, "chat", prompt_chars, DEFAULT_RESERVED_COMPLETION_TOKENS)
    reservation = worst_case_micros(hub.table, hub.pricing, "smart", allowance)
    outcomes = await asyncio.gather(*(hub.gateway.chat(capped, body) for _ in range(50)), return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, GatewayError)]
    assert {(e.status, e.code) for e in refused} == {(429, "budget_exceeded")}
    assert len(refused) < 50
    spend = capped.token_spend
    assert spend is not None
    assert spend.reserved_micros == 0, "every hold is released once its call is metered"
    assert 0 < spend.spent_micros <= budget + reservation


async def test_a_failed_call_releases_its_reservation(hub: Hub) -> None:
    fay = add_person(hub, "fay@example.com")
    capped = gateway_principal(hub, fay, "capped", budget_micros=10_000)
    with pytest.raises(GatewayError):
        await hub.gateway.chat(capped, {**chat(), "model": "broken"})
    assert capped.token_spend is not None and capped.token_spend.reserved_micros == 0
    answer, _ = await hub.gateway.chat(capped, chat())
    assert answer["choices"]


async def test_a_person_budget_covers_all_their_tokens_and_a_raise_applies_at_once(hub: Hub) -> None:
    ann, cid = add_person(hub, "ann@example.com"), add_person(hub, "cid@example.com")
    laptop, ci, other = gateway_principal(hub, ann, "laptop"), gateway_principal(hub, ann, "ci"), gateway_principal(hub, cid, "cid")
    set_user_budget(hub.engine, TEST_ACTOR, ann, 1)
    await hub.gateway.chat(laptop, chat())
    for principal in (laptop, ci):
        with pytest.raises(GatewayError) as refused:
            await hub.gateway.chat(principal, chat())
        assert (refused.value.status, refused.value.code) == (429, "user_budget_exceeded")
    await hub.gateway.chat(other, chat())  # someone else's budget is theirs
    set_user_budget(hub.engine, TEST_ACTOR, ann, 10_000_000)
    answer, _ = await hub.gateway.chat(ci, chat())
    assert answer["choices"][0]["message"]["content"]
    await hub.recorder.flush()
    with Session(hub.engine) as session:
        codes = [r.error_code for r in session.exec(select(UsageRecord).where(UsageRecord.user_id == ann).order_by(UsageRecord.id))]
    assert codes == [None, "user_budget_exceeded", "user_budget_exceeded", None]
    changes, _ = list_events(hub.engine, AuditFilter(action_prefix="budget.user"))
    assert [(e.target, e.detail) for e in changes] == [
        ("ann@example.com", {"monthly_usd": 10.0}),
        ("ann@example.com", {"monthly_usd": 0.000001}),
    ]
    with pytest.raises(SettingError):
        set_user_budget(hub.engine, TEST_ACTOR, ann, -1)


async def test_a_person_budget_counts_what_was_spent_before_a_restart(hub: Hub) -> None:
    dee = add_person(hub, "dee@example.com")
    await hub.gateway.chat(gateway_principal(hub, dee, "one"), chat())
    await hub.recorder.flush()
    set_user_budget(hub.engine, TEST_ACTOR, dee, 1)
    hub.tokens.invalidate()  # a fresh registry reads the month's spend from the records
    with pytest.raises(GatewayError) as refused:
        await hub.gateway.chat(gateway_principal(hub, dee, "two"), chat())
    assert refused.value.code == "user_budget_exceeded"


def stored_bodies(hub: Hub) -> dict[str, UsageBody]:
    with Session(hub.engine) as session:
        return {row.request_id: row for row in session.exec(select(UsageBody))}


async def test_bodies_are_not_stored_while_body_logging_is_off(hub: Hub) -> None:
    await hub.gateway.chat(MASTER_PRINCIPAL, chat(LEAKY))
    await hub.recorder.flush()
    assert stored_bodies(hub) == {}


async def test_bodies_are_stored_redacted_once_body_logging_is_on(hub: Hub) -> None:
    admin = MASTER_PRINCIPAL
    set_body_logging(hub.engine, TEST_ACTOR, True)
    _, plain = await hub.gateway.chat(admin, {**chat(LEAKY), "api_key": "sk-should-never-show"})
    stream = await hub.gateway.stream_chat(admin, {**chat("tell me more"), "stream": True})
    async for _ in stream:
        pass
    _, vectors = await hub.gateway.embed(admin, {"model": "embed", "input": ["one", "two"]})
    with pytest.raises(GatewayError):
        await hub.gateway.chat(admin, chat() | {"model": "nowhere"})
    await hub.recorder.flush()
    bodies = stored_bodies(hub)

    logged = bodies[plain.request_id]
    assert logged.request["api_key"] == REDACTED
    assert logged.request["messages"][0]["content"] == f"my key is {REDACTED}, please keep it"
    assert logged.response["choices"][0]["message"]["content"]
    assert "sk-proj-abcdefghijklmnop1234" not in str(logged.request) + str(logged.response)

    streamed = bodies[stream.meta.request_id]
    assert streamed.request["stream"] is True
    assert streamed.response["choices"][0]["message"]["content"] == answer_for("tell me more")
    assert streamed.response["choices"][0]["finish_reason"] == "stop"

    embedded = bodies[vectors.request_id].response
    assert [item["embedding"] for item in embedded["data"]] == [f"[{EMBEDDING_SIZE} numbers]"] * 2

    failed = [row for row in bodies.values() if row.request["model"] == "nowhere"]
    assert failed and failed[0].response["error"]["code"] == "model_not_found"

    set_body_logging(hub.engine, TEST_ACTOR, False)
    await hub.gateway.chat(admin, chat("after"))
    await hub.recorder.flush()
    assert len(stored_bodies(hub)) == len(bodies)


async def test_the_hubs_own_secrets_are_redacted_by_value_in_stored_bodies(hub: Hub) -> None:
    """Issue #16 finding 11: a provider key the hub holds, pasted into a message, shaped like no known key
    pattern; and a key added afterwards (the secrets are re-read with the routing table). Exports
    read the stored bodies."""
    set_body_logging(hub.engine, TEST_ACTOR, True)
    _, first = await hub.gateway.chat(MASTER_PRINCIPAL, chat("the key is ok#budget-1 ok"))
    hub.catalog.create_key(TEST_ACTOR, "emu", {"label": "second", "secret": "plain-words-secret-42"})
    _, second = await hub.gateway.chat(MASTER_PRINCIPAL, chat("try plain-words-secret-42 too"))
    await hub.recorder.flush()
    bodies = stored_bodies(hub)
    assert bodies[first.request_id].request["messages"][0]["content"] == f"the key is {REDACTED} ok"
    assert bodies[second.request_id].request["messages"][0]["content"] == f"try {REDACTED} too"
    stored = str([(row.request, row.response) for row in bodies.values()])
    assert "ok#budget-1" not in stored and "plain-words-secret-42" not in stored

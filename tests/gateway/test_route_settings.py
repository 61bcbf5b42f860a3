"""Route and model settings through the gateway, on a real Hub in front of the emulator: what reaches the
upstream (default parameters, extra headers, no routing tags), what is metered (a route's own price), and
how names resolve (aliases, wildcards), with the catalog written from our own YAML format."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.accounts.tokens import Principal
from services.errors import GatewayError
from services.hub import Hub
from services.tables import UsageRecord
from tests.factories import MASTER_PRINCIPAL, emulated_hub, rows_of
from tests.upstream_emulator import EmulatorHandle

CONFIG = """
providers:
  - name: emu
    kind: openai
    base_url: "{url}/v1"
    keys:
      - {{label: main, secret: "ok#route-settings"}}
      - {{label: spare, secret: "unauthorized#route-settings"}}
  - name: local
    kind: openai_compatible
    base_url: "{url}/v1"
models:
  - name: smart
    aliases: [gpt-4, production-gpt-4]
    num_retries: 0
    routes:
      - provider: emu
        model: gpt-4o
        keys: [main]
        price: {{input: 2.5, output: 10}}
        params: {{temperature: 0.2, max_tokens: 64}}
        headers: {{OpenAI-Organization: org-route-settings}}
        tags: [paid]
      - provider: emu
        model: gpt-4o-mini
        keys: [main]
        tags: [default]
  - name: "openai/*"
    routes:
      - {{provider: emu, model: "*", keys: [main]}}
  - name: local-llama
    routes:
      - {{provider: local, model: llama3}}
"""
ASK = {"messages": [{"role": "user", "content": "one two three"}]}


@pytest.fixture
async def hub(tmp_path: Path, emulator: EmulatorHandle):  # type: ignore[no-untyped-def]
    async with emulated_hub(tmp_path, emulator, CONFIG) as started:
        yield started


def upstream_calls(emulator: EmulatorHandle, marker: str) -> list[dict]:  # type: ignore[type-arg]
    return [r for r in emulator.requests() if r["body"] and marker in str(r["body"].get("messages"))]


async def chat(hub: Hub, principal: Principal = MASTER_PRINCIPAL, **body: object) -> dict:  # type: ignore[type-arg]
    answer, _ = await hub.gateway.chat(principal, {**ASK, **body})
    return answer


async def test_defaults_headers_and_price_of_the_tagged_route(hub: Hub, emulator: EmulatorHandle) -> None:
    emulator.reset()
    answer = await chat(hub, model="smart", tags=["paid"], temperature=0.9,
                        messages=[{"role": "user", "content": "route settings paid"}])
    assert answer["model"] == "smart"
    [call] = upstream_calls(emulator, "route settings paid")
    assert call["body"]["model"] == "gpt-4o" and call["body"]["max_tokens"] == 64
    assert call["body"]["temperature"] == 0.9, "a route's default never overrides what the request sent"
    assert "tags" not in call["body"]
    assert call["headers"]["openai-organization"] == "org-route-settings"
    await hub.recorder.flush()
    [record] = rows_of(hub, UsageRecord)
    usage = answer["usage"]
    assert record.cost_micros == round(usage["prompt_tokens"] * 2.5 + usage["completion_tokens"] * 10)


async def test_untagged_requests_take_the_default_route_and_metadata_tags_work(hub: Hub, emulator: EmulatorHandle) -> None:
    emulator.reset()
    await chat(hub, model="smart", messages=[{"role": "user", "content": "untagged call"}])
    await chat(hub, model="smart", metadata={"tags": ["paid"], "team": "x"}, messages=[{"role": "user", "content": "meta tagged"}])
    [plain] = upstream_calls(emulator, "untagged call")
    [tagged] = upstream_calls(emulator, "meta tagged")
    assert plain["body"]["model"] == "gpt-4o-mini" and "max_tokens" not in plain["body"]
    assert tagged["body"]["model"] == "gpt-4o" and tagged["body"]["metadata"] == {"team": "x"}


async def test_bad_tags_are_a_400_naming_the_field(hub: Hub) -> None:
    with pytest.raises(GatewayError) as caught:
        await chat(hub, model="smart", tags=[1, 2])
    assert (caught.value.status, caught.value.param) == (400, "tags")


async def test_aliases_and_wildcards_answer_under_the_name_asked(hub: Hub, emulator: EmulatorHandle) -> None:
    emulator.reset()
    assert (await chat(hub, model="gpt-4"))["model"] == "gpt-4"
    wild = await chat(hub, model="openai/gpt-4.1-nano", messages=[{"role": "user", "content": "wild card"}])
    assert wild["model"] == "openai/gpt-4.1-nano"
    [call] = upstream_calls(emulator, "wild card")
    assert call["body"]["model"] == "gpt-4.1-nano"
    assert hub.table.model_names()[:4] == ["gpt-4", "local-llama", "production-gpt-4", "smart"]
    await hub.recorder.flush()
    assert [r.requested_model for r in rows_of(hub, UsageRecord)][:2] == ["gpt-4", "openai/gpt-4.1-nano"]


async def test_a_route_never_uses_keys_it_does_not_list(hub: Hub, emulator: EmulatorHandle) -> None:
    emulator.reset()
    for n in range(8):
        await chat(hub, model="smart", messages=[{"role": "user", "content": f"keys only main {n}"}])
    assert {r["key"] for r in emulator.requests()} == {"ok#route-settings"}


async def test_a_keyless_provider_is_called_without_an_authorization_header(hub: Hub, emulator: EmulatorHandle) -> None:
    emulator.reset()
    assert hub.catalog.get_provider("local").keyless
    answer = await chat(hub, model="local-llama", messages=[{"role": "user", "content": "keyless call"}])
    assert answer["choices"][0]["message"]["content"] == "Echo: keyless call"
    [call] = upstream_calls(emulator, "keyless call")
    assert "authorization" not in call["headers"] and call["key"] is None

"""Translated chat through a running hub, driven by the official ``openai`` SDK: structured output
parsed into a pydantic model on Anthropic routes, and a Gemini 3 tool loop over two turns."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from pydantic import BaseModel

from tests.conftest import RunningApp
from tests.factories import hub_process, wait_for_usage
from tests.upstream_emulator import EmulatorHandle

CONFIG = """
providers:
  - name: emu-anthropic
    kind: anthropic
    base_url: {url}
    keys:
      - label: main
        secret: ok#anthropic-sdk
  - name: emu-gemini
    kind: gemini
    base_url: {url}
    keys:
      - label: main
        secret: ok#gemini-sdk
models:
  - name: claude-native
    routes:
      - provider: emu-anthropic
        model: claude-sonnet-4-5
  - name: claude-old
    routes:
      - provider: emu-anthropic
        model: claude-3-5-haiku-latest
  - name: claude-lenient
    drop_params: true
    routes:
      - provider: emu-anthropic
        model: claude-sonnet-4-5
  - name: gemini-3
    routes:
      - provider: emu-gemini
        model: gemini-3-pro-preview
"""
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = {"type": "function", "function": {"name": "weather", "description": "The weather in a city", "parameters": CITY}}


class Place(BaseModel):
    city: str
    people: int


@pytest.fixture(scope="module")
def hub_app(emulator: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with hub_process(tmp_path_factory.mktemp("translated"), CONFIG, emulator) as app:
        yield app


@pytest.mark.parametrize("model", ["claude-native", "claude-old"])
def test_parse_into_a_pydantic_model_on_anthropic(hub_app: RunningApp, model: str) -> None:
    completion = hub_app.sdk().chat.completions.parse(model=model, messages=[{"role": "user", "content": "Lyon"}], response_format=Place)
    message = completion.choices[0].message
    assert message.parsed == Place(city="Lyon", people=1) and message.refusal is None


def test_gemini_3_tool_loop_over_two_turns(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    sdk = hub_app.sdk()
    messages: list = [{"role": "user", "content": "use a tool: weather in Oslo"}]
    first = sdk.chat.completions.create(model="gemini-3", messages=messages, tools=[WEATHER])  # type: ignore[list-item]
    assert first.choices[0].finish_reason == "tool_calls"
    [call] = first.choices[0].message.tool_calls or []
    messages += [first.choices[0].message.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    second = sdk.chat.completions.create(model="gemini-3", messages=messages, tools=[WEATHER])  # type: ignore[list-item]
    assert second.choices[0].finish_reason == "stop" and second.choices[0].message.content
    replayed = [r for r in emulator.requests() if r["key"] == "ok#gemini-sdk"][-1]["body"]["contents"][1]["parts"][0]
    assert replayed["functionCall"]["name"] == "weather" and replayed["thoughtSignature"].startswith("c2ln")


def test_a_parameter_the_route_cannot_honour_is_refused_by_name(hub_app: RunningApp) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        hub_app.sdk().chat.completions.create(model="claude-native", messages=[{"role": "user", "content": "x"}], n=2)
    assert caught.value.code == "unsupported_parameter" and caught.value.param == "n"


def test_a_model_marked_drop_params_drops_it_and_says_so(hub_app: RunningApp) -> None:
    raw = hub_app.sdk().chat.completions.with_raw_response.create(model="claude-lenient", messages=[{"role": "user", "content": "x"}],
                                                                   n=2, logprobs=True)
    assert raw.parse().choices[0].message.content == "Echo: x"
    [record] = wait_for_usage(hub_app, request_id=raw.headers["x-llmhub-request-id"])
    assert record["attempts"][-1]["dropped"] == ["n", "logprobs"]
    with hub_app.client() as admin:
        assert admin.get("/api/models/claude-lenient").json()["drop_params"] is True

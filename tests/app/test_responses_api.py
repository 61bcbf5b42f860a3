"""``POST /v1/responses`` through a running hub, driven by the official ``openai`` SDK: relayed natively
to an OpenAI route, translated for Anthropic, Gemini and Ollama routes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pydantic
import pytest
from openai.types.responses import ResponseStreamEvent

from tests.conftest import MASTER_KEY, RunningApp
from tests.factories import hub_process, user_with_token, wait_for_usage
from tests.upstream_emulator import EmulatorHandle

CONFIG = """
providers:
  - name: emu-openai
    kind: openai
    base_url: {url}/v1
    keys:
      - label: main
        secret: ok#responses-openai
  - name: emu-anthropic
    kind: anthropic
    base_url: {url}
    keys:
      - label: main
        secret: ok#responses-anthropic
  - name: emu-gemini
    kind: gemini
    base_url: {url}
    keys:
      - label: main
        secret: ok#responses-gemini
  - name: emu-ollama
    kind: ollama
    base_url: {url}
    keys:
      - label: main
        secret: ok#responses-ollama
  - name: breaker
    kind: anthropic
    base_url: {url}
    keys:
      - label: main
        secret: break-stream#responses-breaker
models:
  - name: gpt
    routes:
      - provider: emu-openai
        model: gpt-4o
  - name: claude
    routes:
      - provider: emu-anthropic
        model: claude-sonnet-4-5
  - name: gemini
    routes:
      - provider: emu-gemini
        model: gemini-3-pro-preview
  - name: llama
    routes:
      - provider: emu-ollama
        model: llama3.2
  - name: claude-lenient
    drop_params: true
    routes:
      - provider: emu-anthropic
        model: claude-sonnet-4-5
  - name: broken
    routes:
      - provider: breaker
        model: claude-sonnet-4-5
"""
MODELS = ["gpt", "claude", "gemini", "llama"]
TOOL_MODELS = ["gpt", "claude", "gemini"]  # the emulator's Ollama does not call tools
WEATHER = {"type": "function", "name": "weather", "description": "The weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
EVENTS: pydantic.TypeAdapter[ResponseStreamEvent] = pydantic.TypeAdapter(ResponseStreamEvent)


@pytest.fixture(scope="module")
def hub_app(emulator: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with hub_process(tmp_path_factory.mktemp("responses"), CONFIG, emulator) as app:
        yield app


@pytest.mark.parametrize("model", MODELS)
def test_text(hub_app: RunningApp, model: str) -> None:
    raw = hub_app.sdk().responses.with_raw_response.create(model=model, input="hello there", instructions="be brief")
    response = raw.parse()
    assert response.output_text == "Echo: hello there" and response.status == "completed"
    assert response.usage is not None and response.usage.output_tokens == 3
    [record] = wait_for_usage(hub_app, request_id=raw.headers["x-llmhub-request-id"])
    assert record["endpoint"] == "responses" and record["completion_tokens"] == 3 and record["status"] == "ok"


@pytest.mark.parametrize("model", MODELS)
def test_stream(hub_app: RunningApp, model: str) -> None:
    with hub_app.sdk().responses.stream(model=model, input="one two three") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert final.output_text == "Echo: one two three"
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed" and "response.output_text.delta" in kinds


@pytest.mark.parametrize("model", TOOL_MODELS)
def test_function_tool_round_trip(hub_app: RunningApp, model: str) -> None:
    sdk = hub_app.sdk()
    first = sdk.responses.create(model=model, input="use a tool: weather in Oslo", tools=[WEATHER])  # type: ignore[list-item]
    [call] = [item for item in first.output if item.type == "function_call"]
    assert call.name == "weather" and call.arguments == '{"city":"use a tool: weather in Oslo"}'
    items: list = [{"role": "user", "content": "use a tool: weather in Oslo"}, call.model_dump(exclude_none=True),
                   {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}]
    second = sdk.responses.create(model=model, input=items, tools=[WEATHER])  # type: ignore[list-item]
    assert second.status == "completed" and second.output_text


@pytest.mark.parametrize("model", TOOL_MODELS)
def test_function_call_streamed(hub_app: RunningApp, model: str) -> None:
    stream = hub_app.sdk().responses.create(model=model, input="use a tool please", tools=[WEATHER], stream=True)  # type: ignore[list-item]
    events = list(stream)
    arguments = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert arguments == '{"city":"use a tool please"}'
    [done] = [e.item for e in events if e.type == "response.output_item.done"]
    assert done.type == "function_call" and done.arguments == arguments
    assert events[-1].type == "response.completed"


def test_structured_output_on_a_translated_route(hub_app: RunningApp) -> None:
    schema = {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"], "additionalProperties": False}
    response = hub_app.sdk().responses.create(model="claude", input="hi",
                                              text={"format": {"type": "json_schema", "name": "w", "schema": schema}})
    assert response.output_text == '{"word":"hi"}'


def test_built_in_tools_are_refused_off_openai(hub_app: RunningApp) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        hub_app.sdk().responses.create(model="claude", input="news?", tools=[{"type": "web_search"}])
    assert caught.value.code == "unsupported_parameter" and caught.value.param == "tools" and "web_search" in caught.value.message


def test_built_in_tools_are_dropped_on_a_model_marked_so(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    response = hub_app.sdk().responses.create(model="claude-lenient", input="news?", tools=[{"type": "web_search"}, WEATHER])
    assert response.output_text == "Echo: news?"
    assert [tool["name"] for tool in emulator.requests()[-1]["body"]["tools"]] == ["weather"]


def test_a_namespace_of_tools_round_trips_on_a_translated_route(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    namespace = {"type": "namespace", "name": "agents", "description": "sub-agents", "tools": [{**WEATHER, "name": "spawn"}]}
    sdk = hub_app.sdk()
    first = sdk.responses.create(model="claude", input="use a tool now", tools=[namespace])  # type: ignore[list-item]
    [call] = first.output
    assert call.type == "function_call" and (call.namespace, call.name) == ("agents", "spawn")
    assert emulator.requests()[-1]["body"]["tools"][0]["name"] == "agents__ns__spawn"
    items: list = [{"role": "user", "content": "use a tool now"}, call.model_dump(exclude_none=True),
                   {"type": "function_call_output", "call_id": call.call_id, "output": "spawned"}]
    second = sdk.responses.create(model="claude", input=items, tools=[namespace])  # type: ignore[list-item]
    assert second.status == "completed"
    assert emulator.requests()[-1]["body"]["messages"][1]["content"][0]["name"] == "agents__ns__spawn"


def test_a_broken_stream_ends_with_an_error_event(hub_app: RunningApp) -> None:
    body = {"model": "broken", "input": "a b c d e", "stream": True}
    with httpx.stream("POST", hub_app.url + "/v1/responses", json=body, headers={"Authorization": f"Bearer {MASTER_KEY}"}) as answer:
        lines = [line[6:] for line in answer.iter_lines() if line.startswith("data: ")]
    events = [EVENTS.validate_json(line) for line in lines]
    assert events[-1].type == "error" and "response.completed" not in {e.type for e in events}


def test_errors_in_openai_shape(hub_app: RunningApp) -> None:
    with hub_app.client() as client:
        missing = client.post("/v1/responses", json={"model": "gpt"})
        unknown = client.post("/v1/responses", json={"model": "nope", "input": "x"})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "input"
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize("model", MODELS)
def test_previous_response_id_continues_the_conversation(hub_app: RunningApp, emulator: EmulatorHandle, model: str) -> None:
    sdk = hub_app.sdk()
    first = sdk.responses.create(model=model, input="remember the word kiwi")
    second = sdk.responses.create(model=model, input="what was it?", previous_response_id=first.id)
    assert second.output_text == "Echo: what was it?"
    assert sdk.responses.retrieve(second.id).previous_response_id == first.id
    sent = emulator.requests()[-1]["body"]
    texts = str(sent)
    assert "remember the word kiwi" in texts and "Echo: remember the word kiwi" in texts, "the earlier turn went along"
    third = sdk.responses.create(model=model, input="and now?", previous_response_id=second.id)
    assert "remember the word kiwi" in str(emulator.requests()[-1]["body"]) and third.status == "completed"


def test_a_streamed_response_is_kept(hub_app: RunningApp) -> None:
    sdk = hub_app.sdk()
    with sdk.responses.stream(model="claude", input="stream me") as stream:
        final = stream.get_final_response()
    assert sdk.responses.retrieve(final.id).output_text == "Echo: stream me"


def test_retrieve_and_delete_are_the_tokens_own(hub_app: RunningApp) -> None:
    sdk = hub_app.sdk()
    response = sdk.responses.create(model="gemini", input="keep me")
    assert sdk.responses.retrieve(response.id).output_text == "Echo: keep me"
    holder = user_with_token(hub_app, "other@example.com", "other-password-1", "other")
    other = hub_app.sdk(holder.token)
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.create(model="gemini", input="x", previous_response_id=response.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.delete(response.id)
    sdk.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(response.id)


def test_store_false_keeps_nothing(hub_app: RunningApp) -> None:
    sdk = hub_app.sdk()
    response = sdk.responses.create(model="llama", input="forget me", store=False)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(response.id)


def test_a_malformed_body_is_a_400(hub_app: RunningApp) -> None:
    with hub_app.client() as client:
        answer = client.post("/v1/responses", json={"model": [None, False], "input": 1630})
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "model"

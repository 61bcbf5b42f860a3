"""``/v1/messages`` and ``/v1/messages/count_tokens`` driven by the official ``anthropic`` SDK against a
running LLM Hub and the emulator: relayed natively to Anthropic routes, translated for the others."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from tests.conftest import MASTER_KEY, RunningApp
from tests.factories import hub_process, wait_for_usage
from tests.upstream_emulator import EmulatorHandle

CONFIG = """
providers:
  - name: emu-openai
    kind: openai
    base_url: {url}/v1
    keys: [{{label: main, secret: "ok#m-openai"}}]
  - name: emu-anthropic
    kind: anthropic
    base_url: {url}
    keys: [{{label: main, secret: "ok#m-anthropic"}}]
  - name: emu-gemini
    kind: gemini
    base_url: {url}
    keys: [{{label: main, secret: "ok#m-gemini"}}]
  - name: emu-ollama
    kind: ollama
    base_url: {url}
    keys: [{{label: main, secret: "ok#m-ollama"}}]
  - name: limited
    kind: openai
    base_url: {url}/v1
    keys: [{{label: cooling, secret: "rate-limit:60#m-limited"}}]
models:
  - name: claude
    routes: [{{provider: emu-anthropic, model: claude-haiku-4-5}}]
  - name: gpt
    routes: [{{provider: emu-openai, model: gpt-4o-mini}}]
  - name: gem
    routes: [{{provider: emu-gemini, model: gemini-2.5-flash}}]
  - name: local
    routes: [{{provider: emu-ollama, model: llama3.2}}]
  - name: claude-tools
    routes: [{{provider: emu-anthropic, model: "claude-haiku-4-5@tool-use"}}]
  - name: gpt-tools
    routes: [{{provider: emu-openai, model: "gpt-4o@tool-use"}}]
  - name: claude-thinks
    routes: [{{provider: emu-anthropic, model: "claude-sonnet-4-5@thinking"}}]
  - name: claude-breaks
    routes: [{{provider: emu-anthropic, model: "claude-haiku-4-5@break-stream"}}]
  - name: claude-errs
    routes: [{{provider: emu-anthropic, model: "claude-haiku-4-5@stream-error"}}]
  - name: gpt-breaks
    routes: [{{provider: emu-openai, model: "gpt-4o@break-stream"}}]
  - name: fails-over
    routes:
      - {{provider: limited, model: gpt-4o, priority: 1}}
      - {{provider: emu-anthropic, model: claude-sonnet-4-5, priority: 2}}
"""
ROUTES = [
    ("claude", "emu-anthropic/claude-haiku-4-5"),
    ("gpt", "emu-openai/gpt-4o-mini"),
    ("gem", "emu-gemini/gemini-2.5-flash"),
    ("local", "emu-ollama/llama3.2"),
]
HELLO = [{"role": "user", "content": "hello brave world"}]
WEATHER = {"name": "get_weather", "description": "The weather in a city",
           "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}


@pytest.fixture(scope="module")
def hub_app(emulator: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with hub_process(tmp_path_factory.mktemp("messages"), CONFIG, emulator) as app:
        yield app


def claude_client(app: RunningApp, token: str = MASTER_KEY, **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=app.url, api_key=token, max_retries=0, **options)


def upstream_request(emulator: EmulatorHandle, path: str) -> dict[str, Any]:
    return next(r for r in reversed(emulator.requests()) if r["path"] == path)


@pytest.mark.parametrize(("model", "route"), ROUTES)
def test_create_and_stream_on_every_provider_kind(hub_app: RunningApp, model: str, route: str) -> None:
    client = claude_client(hub_app)
    raw = client.messages.with_raw_response.create(model=model, max_tokens=64, messages=HELLO, system="be brief")
    message = raw.parse()
    assert message.content[0].text == "Echo: hello brave world"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn" and message.usage.output_tokens == 4
    assert raw.headers["x-llmhub-route"] == route
    with client.messages.stream(model=model, max_tokens=64, messages=HELLO) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(texts) == "Echo: hello brave world" and len(texts) == 4
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 4
    [row] = wait_for_usage(hub_app, request_id=raw.headers["x-llmhub-request-id"])
    assert row["endpoint"] == "messages" and row["status"] == "ok" and not row["stream"]
    assert (row["prompt_tokens"], row["completion_tokens"]) == (5, 4)  # the system prompt's two words, then three
    assert row["cost_micros"] is not None and f"{row['provider_name']}/{row['upstream_model']}" == route


def test_native_relay_is_byte_for_byte(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    """Events and answers as the provider wrote them; only the request's model is renamed on the way."""
    body = {"model": "claude-thinks", "max_tokens": 64, "messages": HELLO, "stream": True}
    headers = {"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01", "anthropic-beta": "interleaved-thinking-2025-05-14"}
    relayed = httpx.post(hub_app.url + "/v1/messages?beta=true", json=body, headers=headers).content
    assert upstream_request(emulator, "/v1/messages")["headers"]["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    direct = httpx.post(emulator.url + "/v1/messages", json={**body, "model": "claude-sonnet-4-5@thinking"}, headers=headers).content
    unnumbered = re.compile(rb"emu\d+")
    assert unnumbered.sub(b"emu", relayed) == unnumbered.sub(b"emu", direct)
    assert b"signature_delta" in relayed and relayed.endswith(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
    answer = claude_client(hub_app).messages.create(model="claude-thinks", max_tokens=64, messages=HELLO)
    assert answer.content[0].type == "thinking" and answer.content[0].signature  # type: ignore[union-attr]
    assert answer.model == "claude-sonnet-4-5@thinking"


@pytest.mark.parametrize("model", ["claude-tools", "gpt-tools"])
def test_tool_use_streamed_and_round_trip(hub_app: RunningApp, model: str) -> None:
    client = claude_client(hub_app)
    with client.messages.stream(model=model, max_tokens=64, messages=HELLO, tools=[WEATHER],  # type: ignore[list-item]
                                tool_choice={"type": "any"}) as stream:
        pieces = [event.partial_json for event in stream if event.type == "input_json"]
        called = stream.get_final_message()
    call = called.content[0]
    assert called.stop_reason == "tool_use" and call.type == "tool_use" and call.name == "get_weather"
    assert call.input == {"text": "hello brave world"} and len(pieces) == 3
    turn = [*HELLO, {"role": "assistant", "content": called.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}]}]
    answer = client.messages.create(model=model, max_tokens=64, messages=turn, tools=[WEATHER])  # type: ignore[list-item]
    assert answer.stop_reason == "end_turn" and answer.content[0].text == "Echo: sunny"  # type: ignore[union-attr]


def test_translation_to_openai(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    linked = {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
    claude_client(hub_app).messages.create(
        model="gpt", max_tokens=32, stop_sequences=["END"], metadata={"user_id": "u-1"},
        extra_body={"temperature": 0.2, "top_p": 0.9},  # this SDK's version no longer takes them; older clients send them
        system=[{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "what is this"}, image, linked]},  # type: ignore[list-item]
                  {"role": "system", "content": "a reminder between turns, as Claude Code sends"}],  # type: ignore[list-item, typeddict-item]
        tools=[WEATHER], tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},  # type: ignore[list-item]
    )
    sent = upstream_request(emulator, "/v1/chat/completions")["body"]
    assert sent["messages"][0] == {"role": "system", "content": "be brief"}
    parts = sent["messages"][1]["content"]
    assert parts[1]["image_url"]["url"] == "data:image/png;base64,iVBORw0KGgo="
    assert parts[2]["image_url"]["url"] == "https://example.com/cat.png"
    assert sent["messages"][2] == {"role": "system", "content": "a reminder between turns, as Claude Code sends"}
    assert sent["max_completion_tokens"] == 32 and sent["stop"] == ["END"] and sent["user"] == "u-1"
    assert (sent["temperature"], sent["top_p"]) == (0.2, 0.9) and sent["parallel_tool_calls"] is False
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["tools"][0]["function"]["parameters"] == WEATHER["input_schema"]


def test_count_tokens_relayed_or_estimated(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    client = claude_client(hub_app)
    counted = client.messages.count_tokens(model="claude", messages=HELLO, system="be brief")
    assert counted.input_tokens == 5 and upstream_request(emulator, "/v1/messages/count_tokens")["body"]["model"] == "claude-haiku-4-5"
    before = len(emulator.requests())
    estimate = client.messages.count_tokens(model="gpt", messages=HELLO)
    assert estimate.input_tokens == 5 and len(emulator.requests()) == before  # "hello brave world": 17 characters, a quarter token each
    bearer = httpx.post(hub_app.url + "/v1/messages/count_tokens", json={"model": "gpt", "messages": HELLO},
                        headers={"Authorization": f"Bearer {MASTER_KEY}"})
    assert bearer.status_code == 200 and bearer.json() == {"input_tokens": 5}


def test_errors_in_anthropic_shape(hub_app: RunningApp) -> None:
    with pytest.raises(anthropic.AuthenticationError) as bad_token:
        claude_client(hub_app, "llmh-wrong").messages.create(model="gpt", max_tokens=8, messages=HELLO)
    assert bad_token.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    with pytest.raises(anthropic.NotFoundError) as unknown:
        claude_client(hub_app).messages.create(model="nope", max_tokens=8, messages=HELLO)
    assert unknown.value.body == {"type": "error", "error": {"type": "not_found_error", "message": unknown.value.body["error"]["message"]}}  # type: ignore[index]
    answer = httpx.post(hub_app.url + "/v1/messages", json={"model": "gpt", "messages": HELLO}, headers={"x-api-key": MASTER_KEY})
    assert answer.status_code == 400 and answer.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in answer.json()["error"]["message"] and answer.headers["x-llmhub-request-id"]
    server_tool = {"type": "web_search_20250305", "name": "web_search"}
    with pytest.raises(anthropic.BadRequestError, match="web_search_20250305"):
        claude_client(hub_app).messages.create(model="gpt", max_tokens=8, messages=HELLO, tools=[server_tool])  # type: ignore[list-item]


def test_failover_before_the_first_byte_and_metering(hub_app: RunningApp) -> None:
    with claude_client(hub_app).messages.with_streaming_response.create(
        model="fails-over", max_tokens=16, messages=HELLO, stream=True
    ) as response:
        events = [line for line in response.iter_lines() if line.startswith("event: ")]
    assert events[0] == "event: message_start" and events[-1] == "event: message_stop"
    [row] = wait_for_usage(hub_app, request_id=response.headers["x-llmhub-request-id"])
    outcomes = [(a["provider"], a["outcome"]) for a in row["attempts"]]
    assert outcomes == [("limited", "failed"), ("emu-anthropic", "served")]
    assert row["stream"] and row["endpoint"] == "messages" and row["ttft_ms"] is not None
    assert (row["prompt_tokens"], row["completion_tokens"]) == (3, 4)


@pytest.mark.parametrize("model", ["claude-breaks", "claude-errs", "gpt-breaks"])
def test_broken_stream_ends_with_an_error_event(hub_app: RunningApp, model: str) -> None:
    texts: list[str] = []
    opening = claude_client(hub_app).messages.stream(model=model, max_tokens=16, messages=[{"role": "user", "content": "a b c d e"}])
    with opening as stream:
        request_id = stream.response.headers["x-llmhub-request-id"]
        with pytest.raises(anthropic.APIStatusError) as failure:
            texts.extend(stream.text_stream)
    assert texts == ["Echo: ", "a "]
    assert failure.value.body["type"] == "error" and "stream broke" in failure.value.body["error"]["message"]  # type: ignore[index]
    [row] = wait_for_usage(hub_app, request_id=request_id)
    assert row["status"] == "error" and row["error_code"] == "stream_broken" and row["endpoint"] == "messages"

"""What translation keeps: structured output, thinking, Gemini's thought signatures and the Claude
clean-ups, each proven against an emulator that refuses what the providers refuse."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from services.gateway.adapters import get_adapter
from services.gateway.adapters.base import Json, Target
from services.gateway.adapters.gemini import SIGNATURE_MARK, UNSIGNED_CALL
from services.gateway.adapters.tally import StreamTally
from services.gateway.adapters.transport import upstream_client
from tests.upstream_emulator import EmulatorHandle

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "people": {"type": "integer"}},
          "required": ["city", "people"], "additionalProperties": False}
STRUCTURED = {"type": "json_schema", "json_schema": {"name": "place", "schema": SCHEMA, "strict": True}}
WEATHER_TOOL = {"type": "function",
                "function": {"name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with upstream_client(httpx.Timeout(5.0)) as http:
        yield http


def target(emulator: EmulatorHandle, kind: str, model: str) -> tuple[Target, str]:
    key = f"ok#{uuid.uuid4().hex}"
    return Target(kind, emulator.url, key, model), key


def sent(emulator: EmulatorHandle, key: str) -> list[Json]:
    return [r["body"] for r in emulator.requests() if r["key"] == key]


def chat(text: str, **fields: object) -> Json:
    return {"model": "m", "messages": [{"role": "user", "content": text}], **fields}


async def streamed_content(client: httpx.AsyncClient, tgt: Target, body: Json) -> tuple[str, str | None]:
    tally = StreamTally("m")
    parts = []
    async for batch in get_adapter(tgt.kind).stream_chat(client, tgt, body, tally):
        for text in batch:
            chunk = orjson.loads(text)
            parts.extend(c["delta"].get("content") or "" for c in chunk["choices"])
            assert not any(c["delta"].get("tool_calls") for c in chunk["choices"]), "the JSON tool never shows as a tool call"
    return "".join(parts), tally.finish_reason


# --- Claude -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("problem", "refusal"),
    [
        ({"temperature": 0.2, "top_p": 0.9}, "cannot both be specified"),
        ({"stop_sequences": ["\n"]}, "non-whitespace"),
        ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": []}, {"role": "user", "content": "y"}]},
         "non-empty content"),
        ({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/jpg",
                                                                                   "data": "AAAA"}}]}]}, "media_type"),
    ],
)
def test_the_emulator_refuses_what_claude_refuses(emulator: EmulatorHandle, problem: Json, refusal: str) -> None:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], **problem}
    answer = httpx.post(emulator.url + "/v1/messages", json=body, headers={"x-api-key": "ok"})
    assert answer.status_code == 400 and refusal in answer.json()["error"]["message"]


async def test_claude_clean_ups(emulator: EmulatorHandle, client: httpx.AsyncClient) -> None:
    tgt, key = target(emulator, "anthropic", "claude-sonnet-4-5")
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "look"},
                                         {"type": "image_url", "image_url": {"url": "data:image/jpg;base64,AAAA"}}]},
            {"role": "assistant", "content": ""},
            {"role": "assistant", "content": []},
            {"role": "user", "content": "well?"},
        ],
        "temperature": 0.2, "top_p": 0.9, "stop": [" ", "END", "\n"],
    }
    answer = await get_adapter("anthropic").chat(client, tgt, body)
    assert answer["choices"][0]["message"]["content"] == "Echo: look well?"
    [request] = sent(emulator, key)
    assert (request["temperature"], "top_p" in request, request["stop_sequences"]) == (0.2, False, ["END"])
    assert request["messages"][0]["content"][1]["source"]["media_type"] == "image/jpeg"
    assert [m["role"] for m in request["messages"]] == ["user"], "empty messages go, neighbours merge"


@pytest.mark.parametrize(("model", "native"), [("claude-sonnet-4-5", True), ("claude-3-5-haiku-latest", False)])
async def test_claude_structured_output(emulator: EmulatorHandle, client: httpx.AsyncClient, model: str, native: bool) -> None:
    tgt, key = target(emulator, "anthropic", model)
    body = chat("Paris", response_format=STRUCTURED)
    answer = await get_adapter("anthropic").chat(client, tgt, body)
    choice = answer["choices"][0]
    assert orjson.loads(choice["message"]["content"]) == {"city": "Paris", "people": 1}
    assert choice["finish_reason"] == "stop" and "tool_calls" not in choice["message"]
    content, finish = await streamed_content(client, tgt, body)
    assert orjson.loads(content) == {"city": "Paris", "people": 1} and finish == "stop"
    request = sent(emulator, key)[0]
    if native:
        assert request["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}} and "tools" not in request
    else:
        assert request["tool_choice"] == {"type": "tool", "name": "json_response"}
        assert request["tools"][0]["input_schema"] == SCHEMA


async def test_claude_json_object_takes_the_tool_beside_the_callers_tools(emulator: EmulatorHandle, client: httpx.AsyncClient) -> None:
    tgt, key = target(emulator, "anthropic", "claude-sonnet-4-5")
    await get_adapter("anthropic").chat(client, tgt, chat("hi", response_format={"type": "json_object"}, tools=[WEATHER_TOOL]))
    [request] = sent(emulator, key)
    assert [t["name"] for t in request["tools"]] == ["weather", "json_response"] and "tool_choice" not in request


@pytest.mark.parametrize(("effort", "budget", "max_tokens"), [("low", 1024, 4096), ("high", 4096, 8192), (None, None, 4096)])
async def test_reasoning_effort_becomes_a_thinking_budget(emulator: EmulatorHandle, client: httpx.AsyncClient, effort: str | None,
                                                          budget: int | None, max_tokens: int) -> None:
    tgt, key = target(emulator, "anthropic", "claude-sonnet-4-5")
    await get_adapter("anthropic").chat(client, tgt, chat("think", reasoning_effort=effort, temperature=0.3))
    [request] = sent(emulator, key)
    if budget is None:
        assert "thinking" not in request and request["temperature"] == 0.3
    else:
        assert request["thinking"] == {"type": "enabled", "budget_tokens": budget} and "temperature" not in request
    assert request["max_tokens"] == max_tokens


async def test_a_thinking_budget_fits_inside_max_tokens(emulator: EmulatorHandle, client: httpx.AsyncClient) -> None:
    tgt, key = target(emulator, "anthropic", "claude-sonnet-4-5")
    await get_adapter("anthropic").chat(client, tgt, chat("think", reasoning_effort="medium", max_tokens=500))
    assert sent(emulator, key)[0]["max_tokens"] == 2548


# --- Gemini -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "config"), [("gemini-3-pro-preview", {"thinkingLevel": "high"}),
                                                ("gemini-2.5-flash", {"thinkingBudget": 8192})])
async def test_reasoning_effort_becomes_a_thinking_config(emulator: EmulatorHandle, client: httpx.AsyncClient, model: str,
                                                          config: Json) -> None:
    tgt, key = target(emulator, "gemini", model)
    await get_adapter("gemini").chat(client, tgt, chat("think", reasoning_effort="medium"))
    assert sent(emulator, key)[0]["generationConfig"]["thinkingConfig"] == config


async def test_the_emulator_refuses_a_gemini_3_call_replayed_without_its_signature(emulator: EmulatorHandle) -> None:
    contents = [{"role": "user", "parts": [{"text": "weather?"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "weather", "response": {"content": "sunny"}}}]}]
    answer = httpx.post(emulator.url + "/v1beta/models/gemini-3-pro-preview:generateContent", json={"contents": contents},
                        headers={"x-goog-api-key": "ok"})
    assert answer.status_code == 400 and "thought_signature" in answer.json()["error"]["message"]


@pytest.mark.parametrize("stream", [False, True])
async def test_gemini_thought_signature_survives_the_tool_loop(emulator: EmulatorHandle, client: httpx.AsyncClient, stream: bool) -> None:
    tgt, key = target(emulator, "gemini", "gemini-3-pro-preview")
    first = chat("use a tool for Paris", tools=[WEATHER_TOOL])
    adapter = get_adapter("gemini")
    if stream:
        tally = StreamTally("m")
        chunks = [orjson.loads(text) async for batch in adapter.stream_chat(client, tgt, first, tally) for text in batch]
        [call] = [call for c in chunks for choice in c["choices"] for call in choice["delta"].get("tool_calls") or ()]
    else:
        [call] = (await adapter.chat(client, tgt, first))["choices"][0]["message"]["tool_calls"]
    assert call["function"]["name"] == "weather" and SIGNATURE_MARK in call["id"]
    second = {**first, "messages": [*first["messages"], {"role": "assistant", "content": None, "tool_calls": [call]},
                                    {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}]}
    answer = await adapter.chat(client, tgt, second)
    assert answer["choices"][0]["finish_reason"] == "stop"
    replayed = sent(emulator, key)[-1]["contents"][1]["parts"][0]
    assert replayed["thoughtSignature"] == call["id"].partition(SIGNATURE_MARK)[2]
    assert sent(emulator, key)[-1]["contents"][2]["parts"][0]["functionResponse"]["name"] == "weather"


async def test_a_call_without_a_signature_gets_the_placeholder(emulator: EmulatorHandle, client: httpx.AsyncClient) -> None:
    tgt, key = target(emulator, "gemini", "gemini-3-pro-preview")
    call = {"id": "call_from_elsewhere", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    body = chat("weather?", tools=[WEATHER_TOOL])
    body["messages"] += [{"role": "assistant", "content": None, "tool_calls": [call]},
                         {"role": "tool", "tool_call_id": "call_from_elsewhere", "content": "sunny"}]
    await get_adapter("gemini").chat(client, tgt, body)
    assert sent(emulator, key)[0]["contents"][1]["parts"][0]["thoughtSignature"] == UNSIGNED_CALL

"""The emulator's OpenAI Responses API against the official ``openai`` SDK: every answer and stream
event validates against the SDK's own models, and its stream helper puts the events back together."""

from __future__ import annotations

import httpx
import openai
import pydantic
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from tests.upstream_emulator import EmulatorHandle

EVENTS: pydantic.TypeAdapter[ResponseStreamEvent] = pydantic.TypeAdapter(ResponseStreamEvent)
WEATHER = {"type": "function", "name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


def client(emulator: EmulatorHandle, key: str = "ok#responses") -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=emulator.url + "/v1", max_retries=0)


def raw_events(emulator: EmulatorHandle, body: dict) -> list[ResponseStreamEvent]:
    headers = {"Authorization": "Bearer ok"}
    with httpx.stream("POST", emulator.url + "/v1/responses", json={**body, "stream": True}, headers=headers) as answer:
        lines = [line[6:] for line in answer.iter_lines() if line.startswith("data: ")]
    return [EVENTS.validate_json(line) for line in lines]


def test_text_answer(emulator: EmulatorHandle) -> None:
    response = client(emulator).responses.create(model="gpt-4o", input="hello there", instructions="be brief")
    assert response.output_text == "Echo: hello there" and response.status == "completed"
    assert response.usage is not None and (response.usage.input_tokens, response.usage.output_tokens) == (4, 3)
    raw = httpx.post(emulator.url + "/v1/responses", json={"model": "gpt-4o", "input": "x"}, headers={"Authorization": "Bearer ok"})
    Response.model_validate(raw.json())


def test_stream_events_in_order(emulator: EmulatorHandle) -> None:
    events = raw_events(emulator, {"model": "gpt-4o", "input": [{"role": "user", "content": [{"type": "input_text", "text": "a b"}]}]})
    kinds = [event.type for event in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Echo: a b"


def test_the_sdk_stream_helper_puts_it_together(emulator: EmulatorHandle) -> None:
    with client(emulator).responses.stream(model="gpt-4o", input="one two") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "Echo: one two"


@pytest.mark.parametrize("stream", [False, True])
def test_function_call_round_trip(emulator: EmulatorHandle, stream: bool) -> None:
    sdk = client(emulator)
    if stream:
        events = raw_events(emulator, {"model": "gpt-4o", "input": "use a tool for Rome", "tools": [WEATHER]})
        assert "response.function_call_arguments.delta" in {e.type for e in events}
        [call] = [e.item for e in events if e.type == "response.output_item.done"]
    else:
        first = sdk.responses.create(model="gpt-4o", input="use a tool for Rome", tools=[WEATHER])  # type: ignore[list-item]
        [call] = first.output
    assert call.type == "function_call" and call.name == "weather" and call.arguments == '{"city":"use a tool for Rome"}'
    second = sdk.responses.create(model="gpt-4o", tools=[WEATHER], input=[  # type: ignore[list-item]
        {"role": "user", "content": "use a tool for Rome"}, call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}])
    assert second.output[0].type == "message" and second.status == "completed"


def test_structured_output(emulator: EmulatorHandle) -> None:
    schema = {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"], "additionalProperties": False}
    response = client(emulator).responses.create(model="gpt-4o", input="hi", text={"format": {"type": "json_schema", "name": "w",
                                                                                              "schema": schema}})
    assert response.output_text == '{"word":"hi"}'


def test_a_broken_stream_fails(emulator: EmulatorHandle) -> None:
    body = {"model": "gpt-4o", "input": "a b c d", "stream": True}
    with httpx.stream("POST", emulator.url + "/v1/responses", json=body, headers={"Authorization": "Bearer stream-error"}) as answer:
        lines = [line[6:] for line in answer.iter_lines() if line.startswith("data: ")]
    assert EVENTS.validate_json(lines[-1]).type == "response.failed"

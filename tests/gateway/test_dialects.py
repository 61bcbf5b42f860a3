"""The Anthropic Messages dialect's translation both ways, its stream translator and native watcher,
and the framing that relays a native stream whole, without a network (the HTTP paths are driven
with the official SDK in ``tests/app/test_messages_api.py``)."""

from __future__ import annotations

import orjson
import pytest

from services.errors import ErrorKind, GatewayError, UpstreamError
from services.gateway.adapters.wire import LineBuffer, SseEvents
from services.gateway.dialects.anthropic_messages import ANTHROPIC_MESSAGES, ANTHROPIC_TOKEN_COUNT
from services.gateway.dialects.anthropic_stream import AnthropicStreamTranslator, AnthropicWatcher


def events(frames: list[bytes]) -> list[dict]:
    """The data of framed server-sent events, each with its ``event:`` name checked against its type."""
    parsed = []
    for frame in frames:
        name, data = frame.decode().removesuffix("\n\n").split("\n")
        parsed.append(orjson.loads(data.removeprefix("data: ")))
        assert name == f"event: {parsed[-1]['type']}"
    return parsed


def chunk(delta: dict, finish: str | None = None) -> dict:
    return {"id": "chatcmpl-1", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def test_tool_choice_and_thinking_translate_per_route_kind() -> None:
    body = {"model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "x"}],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}], "thinking": {"type": "enabled", "budget_tokens": 5000}}
    choices = {"auto": "auto", "any": "required", "none": "none"}
    for given, expected in choices.items():
        chat = ANTHROPIC_MESSAGES.to_chat({**body, "tool_choice": {"type": given}}, "openai")
        assert chat["tool_choice"] == expected and chat["reasoning_effort"] == "medium" and chat["max_completion_tokens"] == 9
    ollama = ANTHROPIC_MESSAGES.to_chat({**body, "thinking": {"type": "adaptive"}}, "ollama")
    assert "reasoning_effort" not in ollama and ollama["max_tokens"] == 9 and "tool_choice" not in ollama


def test_a_user_turn_with_tool_results_becomes_tool_messages_first() -> None:
    turn = {"role": "user", "content": [
        {"type": "text", "text": "and?"},
        {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "42"}]},
        {"type": "tool_result", "tool_use_id": "t2", "content": "43", "is_error": True},
    ]}
    assistant = {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "s"},
                                                  {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]}
    chat = ANTHROPIC_MESSAGES.to_chat({"model": "m", "messages": [assistant, turn]}, "openai")
    assert chat["messages"] == [
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "42"},
        {"role": "tool", "tool_call_id": "t2", "content": "43"},
        {"role": "user", "content": [{"type": "text", "text": "and?"}]},
    ]


def test_documents_are_refused_off_anthropic() -> None:
    document = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}}
    with pytest.raises(GatewayError, match="`document`"):
        ANTHROPIC_MESSAGES.to_chat({"model": "m", "messages": [{"role": "user", "content": [document]}]}, "gemini")


def test_answer_with_text_tool_calls_and_cached_tokens() -> None:
    answer = {"id": "c1", "choices": [{"finish_reason": "length", "message": {
        "content": "partial", "tool_calls": [{"id": "call_1", "function": {"name": "f", "arguments": '{"q": "x"}'}}]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 4}}}
    message = ANTHROPIC_MESSAGES.from_chat(answer, "smart")
    assert message["model"] == "smart" and message["stop_reason"] == "max_tokens"
    call = {"type": "tool_use", "id": "call_1", "name": "f", "input": {"q": "x"}}
    assert message["content"] == [{"type": "text", "text": "partial"}, call]
    assert message["usage"] == {"input_tokens": 6, "output_tokens": 3, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 4}


def test_stream_translator_opens_and_closes_blocks_in_order() -> None:
    translator = AnthropicStreamTranslator("smart", 7)
    frames = [
        *translator.translate(chunk({"role": "assistant", "content": "Let me "})),
        *translator.translate(chunk({"content": "look."})),
        *translator.translate(chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": ""}}]})),
        *translator.translate(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]})),
        *translator.translate(chunk({"tool_calls": [{"index": 1, "id": "c2", "function": {"name": "g", "arguments": "{}"}}]})),
        *translator.translate(chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]})),
        *translator.translate(chunk({}, "tool_calls")),
        *translator.finish({"prompt_tokens": 12, "completion_tokens": 5}),
    ]
    seen = events(frames)
    assert [(e["type"], e.get("index")) for e in seen] == [
        ("message_start", None), ("ping", None),
        ("content_block_start", 0), ("content_block_delta", 0), ("content_block_delta", 0),
        ("content_block_stop", 0), ("content_block_start", 1), ("content_block_delta", 1),
        ("content_block_stop", 1), ("content_block_start", 2), ("content_block_delta", 2),
        ("content_block_delta", 1),  # a late piece of the first call's arguments still names its block
        ("content_block_stop", 2), ("message_delta", None), ("message_stop", None),
    ]
    assert seen[0]["message"]["usage"]["input_tokens"] == 7 and seen[0]["message"]["model"] == "smart"
    assert seen[6]["content_block"] == {"type": "tool_use", "id": "c1", "name": "f", "input": {}}
    assert seen[-2]["delta"]["stop_reason"] == "tool_use" and seen[-2]["usage"]["output_tokens"] == 5


def test_native_watcher_reads_usage_end_and_errors() -> None:
    watcher = AnthropicWatcher("sk-secret")
    start = {"type": "message_start", "message": {"usage": {"input_tokens": 3, "cache_read_input_tokens": 2, "output_tokens": 1}}}
    watcher.see(b"event: message_start\ndata: " + orjson.dumps(start))
    watcher.see(b'event: content_block_delta\ndata: {"this is": "not even read"')
    watcher.see(b'event: message_delta\ndata: {"type":"message_delta","delta":{},"usage":{"output_tokens":9}}')
    assert not watcher.finished and watcher.final_usage(0)["prompt_tokens"] == 5
    watcher.see(b'event: message_stop\ndata: {"type":"message_stop"}')
    assert watcher.finished and watcher.final_usage(0)["completion_tokens"] == 9
    with pytest.raises(UpstreamError) as failure:
        watcher.see(b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded sk-secret"}}')
    assert failure.value.kind is ErrorKind.UPSTREAM_5XX and "sk-secret" not in failure.value.message


def test_native_events_are_framed_whole_across_reads() -> None:
    stream = b'event: a\ndata: {"n":1}\n\nevent: b\ndata: {"n":2}\n\nevent: c\ndata: {"n":3}\n\n'
    for cut in range(1, len(stream)):
        lines, framing, whole = LineBuffer(), SseEvents(), []
        for piece in (stream[:cut], stream[cut:]):
            whole += framing.texts(lines.split(piece))
        whole += framing.texts(lines.rest()) + framing.rest()
        assert b"\n\n".join(whole) + b"\n\n" == stream, cut


def test_errors_and_token_counts_in_anthropic_shape() -> None:
    refused = GatewayError(429, "all_keys_cooling", "cooling", error_type="rate_limit_error", retry_after=3)
    assert ANTHROPIC_MESSAGES.error_status_and_body(refused) == (429, {"type": "error", "error": {"type": "rate_limit_error",
                                                                                                 "message": "cooling"}})
    assert ANTHROPIC_MESSAGES.error_status_and_body(GatewayError(502, "x", "down"))[1]["error"]["type"] == "api_error"
    assert ANTHROPIC_MESSAGES.stream_error(GatewayError(502, "stream_broken", "broke")).startswith(b"event: error\ndata: ")
    chat = ANTHROPIC_TOKEN_COUNT.to_chat({"model": "m", "messages": [{"role": "user", "content": "12345678"}]}, "openai")
    assert ANTHROPIC_TOKEN_COUNT.local_answer(chat) == {"input_tokens": 2}
    with pytest.raises(GatewayError, match="max_tokens"):
        ANTHROPIC_MESSAGES.validate({"model": "m", "messages": []})
    assert ANTHROPIC_TOKEN_COUNT.validate({"model": "m", "messages": []}) == "m"

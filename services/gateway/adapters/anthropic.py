"""Anthropic Messages API ⇄ OpenAI chat completions.

``anthropic-version: 2023-06-01`` is sent on purpose. The official SDK 2.x sends ``2026-10-21``,
but that version rejects ``temperature``, ``top_p`` and ``top_k`` with a 400 (even at their
defaults), and OpenAI-shaped clients send ``temperature`` routinely; 2023-06-01 is still served
and accepts every field this adapter writes. The key goes in ``x-api-key``, which the API reads
under both versions (SDK 2.x moved to ``Authorization: Bearer``; proxies in front of Anthropic
mostly read ``x-api-key``).

What current Claude models refuse is cleaned up on the way: ``temperature`` and ``top_p`` together
(``top_p`` goes), whitespace-only stop sequences, ``image/jpg`` (it is ``image/jpeg``), messages with
empty content. ``response_format`` asking for JSON becomes Claude's native structured output
(``output_config.format``) on the models that have it, and a forced tool whose input is the answer on
the others; ``reasoning_effort`` becomes a ``thinking`` budget.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from typing import Any

from services.errors import ErrorKind, UpstreamError
from services.gateway.adapters.base import Json, Target
from services.gateway.adapters.shapes import (
    ChunkMaker,
    completion_response,
    content_parts,
    dump_arguments,
    image_url_of,
    make_usage,
    merge_consecutive,
    message_choice,
    new_id,
    parse_arguments,
    parse_data_url,
    stop_list,
    text_of,
    tool_call,
)
from services.gateway.adapters.tally import StreamTally
from services.gateway.adapters.translated import translated_stream
from services.gateway.adapters.transport import UpstreamClient
from services.gateway.adapters.wire import JSON_CONTENT_TYPE, post_json
from services.gateway.long_requests import is_long, prepared

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
SAMPLING_FIELDS = ("temperature", "top_p", "top_k")
JSON_TOOL = "json_response"
"""The forced tool that carries a structured answer on models without native structured output."""
NATIVE_STRUCTURED_OUTPUT = re.compile(r"claude-(?:opus-4-[1-9]|(?:sonnet|haiku)-4-[5-9]|(?:opus|sonnet|haiku)-(?:[5-9]|\d\d))")
THINKING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096, "xhigh": 8192}
"""``reasoning_effort`` → ``thinking.budget_tokens`` (1024 is the least Claude takes)."""


def _headers(target: Target) -> dict[str, str]:
    return target.with_headers({"content-type": JSON_CONTENT_TYPE, "x-api-key": target.api_key, "anthropic-version": ANTHROPIC_VERSION})


# --- request ---------------------------------------------------------------------------------------


def build_request(body: Json, model: str) -> Json:
    """The Messages API body for an OpenAI chat-completions body."""
    system: list[str] = []
    messages: list[Json] = []
    for message in body.get("messages", ()):
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(text_of(message.get("content")))
        elif role == "tool":
            messages.append({"role": "user", "content": [_tool_result(message)]})
        elif role == "assistant":
            messages.append({"role": "assistant", "content": _assistant_blocks(message)})
        else:
            messages.append({"role": "user", "content": _user_blocks(message.get("content"))})
    payload: Json = {
        "model": model,
        "messages": merge_consecutive([m for m in messages if m["content"]], "role", "content"),
        "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS,
    }
    if system:
        payload["system"] = "\n\n".join(system)
    if stop := [s for s in stop_list(body.get("stop")) if s.strip()]:
        payload["stop_sequences"] = stop
    output_config, json_tool = _structured_output(body.get("response_format"), model)
    if output_config:
        payload["output_config"] = output_config
    tools = [_tool(t["function"]) for t in body.get("tools") or () if t.get("type") == "function"]
    if tools and (choice := _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))):
        payload["tool_choice"] = choice
    if json_tool:
        if not tools:
            payload["tool_choice"] = {"type": "tool", "name": JSON_TOOL}
        tools.append(json_tool)
    if tools:
        payload["tools"] = tools
    thinking = None if json_tool else THINKING_BUDGETS.get(body.get("reasoning_effort") or "")
    if thinking:
        payload["thinking"] = {"type": "enabled", "budget_tokens": thinking}
        if payload["max_tokens"] <= thinking:  # the budget is spent out of max_tokens
            payload["max_tokens"] += thinking
    else:
        payload.update(_sampling(body))
    if isinstance(body.get("user"), str):
        payload["metadata"] = {"user_id": body["user"]}
    return payload


def _sampling(body: Json) -> Json:
    """Current Claude models take ``temperature`` or ``top_p``, not both: ``temperature`` wins (with
    thinking on they take neither, and this is not called)."""
    sampling = {name: body[name] for name in SAMPLING_FIELDS if body.get(name) is not None}
    if "temperature" in sampling:
        sampling.pop("top_p", None)
    return sampling


def _structured_output(response_format: Any, model: str) -> tuple[Json | None, Json | None]:
    """A ``response_format`` asking for JSON as (``output_config`` for a model with native structured
    output, or the forced tool for one without); (None, None) for text. ``json_object`` has no schema
    to give the native form (which wants closed objects), so it always takes the tool."""
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {"type": "object"}
        if NATIVE_STRUCTURED_OUTPUT.search(model):
            return {"format": {"type": "json_schema", "schema": schema}}, None
    elif kind == "json_object":
        schema = {"type": "object"}
    else:
        return None, None
    return None, {"name": JSON_TOOL, "description": "Give your answer as this tool's input.", "input_schema": schema}


def has_json_tool(payload: Json) -> bool:
    return any(tool.get("name") == JSON_TOOL for tool in payload.get("tools") or ())


def _user_blocks(content: Any) -> list[Json]:
    blocks: list[Json] = []
    for part in content_parts(content):
        kind = part.get("type")
        if kind == "text" and part.get("text"):
            block: Json = {"type": "text", "text": part["text"]}
            if "cache_control" in part:
                block["cache_control"] = part["cache_control"]
            blocks.append(block)
        elif kind == "image_url":
            blocks.append(_image_block(image_url_of(part)))
    return blocks


def _image_block(url: str) -> Json:
    inline = parse_data_url(url)
    if inline is None:
        return {"type": "image", "source": {"type": "url", "url": url}}
    media_type, data = inline
    if media_type == "image/jpg":
        media_type = "image/jpeg"
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _assistant_blocks(message: Json) -> list[Json]:
    blocks = _user_blocks(message.get("content"))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id", ""),
                "name": function.get("name", ""),
                "input": parse_arguments(function.get("arguments")),
            }
        )
    return blocks


def _tool_result(message: Json) -> Json:
    return {"type": "tool_result", "tool_use_id": message.get("tool_call_id", ""), "content": text_of(message.get("content"))}


def _tool(function: Json) -> Json:
    tool: Json = {"name": function.get("name", ""), "input_schema": function.get("parameters") or {"type": "object", "properties": {}}}
    if function.get("description"):
        tool["description"] = function["description"]
    return tool


def _tool_choice(choice: Any, parallel: Any) -> Json | None:
    if choice == "none":
        return {"type": "none"}
    if choice == "required":
        picked: Json = {"type": "any"}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        picked = {"type": "tool", "name": (choice.get("function") or {}).get("name", "")}
    elif choice == "auto" or parallel is False:
        picked = {"type": "auto"}
    else:
        return None
    if parallel is False:
        picked["disable_parallel_tool_use"] = True
    return picked


# --- response --------------------------------------------------------------------------------------


def _usage(usage: Json) -> Json:
    """Cache reads and writes are prompt tokens too; OpenAI reports them inside ``prompt_tokens``."""
    cached = usage.get("cache_read_input_tokens") or 0
    written = usage.get("cache_creation_input_tokens") or 0
    prompt = (usage.get("input_tokens") or 0) + cached + written
    return make_usage(prompt, usage.get("output_tokens") or 0, cached=cached, cache_write=written)


def to_completion(answer: Json, model: str, json_tool: bool = False) -> Json:
    """The answer as a completion; with ``json_tool`` (the request forced it) that tool's input is the content."""
    texts: list[str] = []
    calls: list[Json] = []
    for block in answer.get("content") or ():
        if block.get("type") == "text":
            texts.append(block.get("text", ""))
        elif block.get("type") == "tool_use" and json_tool and block.get("name") == JSON_TOOL:
            texts.append(dump_arguments(block.get("input")))
        elif block.get("type") == "tool_use":
            calls.append(tool_call(block.get("id", ""), block.get("name", ""), dump_arguments(block.get("input"))))
    content = "".join(texts) if texts or not calls else None
    reason = FINISH_REASONS.get(answer.get("stop_reason") or "", "stop")
    choice = message_choice(0, content, calls, "stop" if reason == "tool_calls" and not calls else reason)
    return completion_response(answer.get("id") or new_id(), answer.get("model") or model, [choice], _usage(answer.get("usage") or {}))


class _StreamTranslator:
    """Messages stream events → OpenAI chunks (None for events with nothing to say)."""

    __slots__ = ("chunks", "finished", "json_block", "json_tool", "tool_index", "usage")

    def __init__(self, model: str, json_tool: bool = False) -> None:
        self.chunks = ChunkMaker(new_id(), model)
        self.usage: Json = {}
        self.tool_index: dict[int, int] = {}  # content block index → OpenAI tool call index
        self.json_tool = json_tool  # the request forced JSON_TOOL: its input streams as content
        self.json_block: int | None = None
        self.finished = False

    def translate(self, event: Json) -> Json | None:
        kind = event.get("type")
        if kind == "content_block_delta":
            return self._delta(event)
        if kind == "message_start":
            return self._start(event.get("message") or {})
        if kind == "content_block_start":
            return self._block_start(event)
        if kind == "message_delta":
            return self._message_delta(event)
        return None

    def _start(self, message: Json) -> Json:
        self.chunks.id = message.get("id") or self.chunks.id
        self.chunks.model = message.get("model") or self.chunks.model
        self.usage.update(message.get("usage") or {})
        return self.chunks.chunk({"role": "assistant", "content": ""})

    def _block_start(self, event: Json) -> Json | None:
        block = event.get("content_block") or {}
        if block.get("type") == "text" and block.get("text"):
            return self.chunks.chunk({"content": block["text"]})
        if block.get("type") != "tool_use":
            return None
        if self.json_tool and block.get("name") == JSON_TOOL:
            self.json_block = event.get("index", 0)
            return None
        position = self.tool_index[event.get("index", 0)] = len(self.tool_index)
        call = {"index": position, **tool_call(block.get("id", ""), block.get("name", ""), "")}
        return self.chunks.chunk({"tool_calls": [call]})

    def _delta(self, event: Json) -> Json | None:
        delta = event.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            return self.chunks.chunk({"content": delta.get("text", "")})
        if kind == "input_json_delta" and event.get("index", 0) == self.json_block:
            return self.chunks.chunk({"content": delta.get("partial_json", "")})
        if kind == "input_json_delta":
            call = {"index": self.tool_index.get(event.get("index", 0), 0), "function": {"arguments": delta.get("partial_json", "")}}
            return self.chunks.chunk({"tool_calls": [call]})
        return None

    def _message_delta(self, event: Json) -> Json | None:
        self.usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
        reason = (event.get("delta") or {}).get("stop_reason")
        if not reason:
            return None
        self.finished = True
        finish = FINISH_REASONS.get(reason, "stop")
        return self.chunks.chunk({}, "stop" if finish == "tool_calls" and not self.tool_index else finish)

    def usage_chunk(self) -> Json:
        return self.chunks.usage(_usage(self.usage))


class AnthropicAdapter:
    """Calls ``{base}/v1/messages`` with the key in ``x-api-key``; ``url``, ``payload`` and the ``*_with``
    methods let a kind that takes the same bodies elsewhere (Claude on Vertex AI) reuse it."""

    def url(self, target: Target, stream: bool) -> str:
        return f"{target.base_url}/v1/messages"

    def payload(self, body: Json, target: Target) -> Json:
        return build_request(body, target.model)

    async def chat(self, client: UpstreamClient, target: Target, body: Json) -> Json:
        return await self.chat_with(client, target, body, _headers(target))

    def stream_chat(self, client: UpstreamClient, target: Target, body: Json, tally: StreamTally) -> AsyncGenerator[list[bytes], None]:
        return self.stream_with(client, target, body, tally, _headers(target))

    async def chat_with(self, client: UpstreamClient, target: Target, body: Json, headers: dict[str, str]) -> Json:
        payload = await prepared(is_long(body), self.payload, body, target)
        answer = await post_json(client, self.url(target, False), headers, payload, target.api_key, target.timeout)
        return to_completion(answer, target.model, has_json_tool(payload))

    def stream_with(
        self, client: UpstreamClient, target: Target, body: Json, tally: StreamTally, headers: dict[str, str]
    ) -> AsyncGenerator[list[bytes], None]:
        payload = {**self.payload(body, target), "stream": True}
        translator = _StreamTranslator(target.model, has_json_tool(payload))
        return translated_stream(
            client, self.url(target, True), headers, payload, target.api_key, translator, tally, read_timeout=target.stream_timeout
        )

    async def embed(self, client: UpstreamClient, target: Target, body: Json) -> Json:
        raise UpstreamError(ErrorKind.BAD_REQUEST, "Anthropic offers no embeddings API", status=400)

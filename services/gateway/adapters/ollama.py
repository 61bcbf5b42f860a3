"""Ollama's native API (``/api/chat``, ``/api/embed``) ⇄ OpenAI chat completions and embeddings.

The native API rather than Ollama's ``/v1`` shim: it reports ``prompt_eval_count``/``eval_count``
on every answer and takes the sampling options Ollama really has. ``stream`` is always sent
explicitly because Ollama streams NDJSON when it is absent. Images travel as bare base64 in the
message's ``images`` list; Ollama cannot fetch http image URLs, so those are left out.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from services.gateway.adapters.base import Json, Target
from services.gateway.adapters.shapes import (
    ChunkMaker,
    completion_response,
    content_parts,
    dump_arguments,
    embedding_inputs,
    embedding_list,
    embedding_usage,
    image_url_of,
    make_usage,
    message_choice,
    new_id,
    parse_arguments,
    parse_data_url,
    stop_list,
    text_of,
    tool_call,
    tool_names_by_id,
)
from services.gateway.adapters.tally import StreamTally
from services.gateway.adapters.translated import translated_stream
from services.gateway.adapters.transport import UpstreamClient
from services.gateway.adapters.wire import NdjsonFraming, post_json
from services.gateway.long_requests import is_long, prepared

# OpenAI name → Ollama option name, copied as they are.
OPTION_FIELDS = (
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("top_k", "top_k"),
    ("seed", "seed"),
    ("presence_penalty", "presence_penalty"),
    ("frequency_penalty", "frequency_penalty"),
)


# --- request ---------------------------------------------------------------------------------------


def build_request(body: Json, model: str, stream: bool) -> Json:
    messages = body.get("messages", ())
    names = tool_names_by_id(messages) if any(m.get("role") == "tool" for m in messages) else {}
    payload: Json = {"model": model, "messages": [_message(m, names) for m in messages], "stream": stream}
    if options := _options(body):
        payload["options"] = options
    if body.get("tools"):
        payload["tools"] = body["tools"]
    if response_format := _format(body.get("response_format")):
        payload["format"] = response_format
    return payload


def _message(message: Json, names: dict[str, str]) -> Json:
    role = message.get("role")
    content = message.get("content")
    converted: Json = {"role": "system" if role == "developer" else role, "content": text_of(content)}
    images = [
        inline[1] for part in content_parts(content) if part.get("type") == "image_url" and (inline := parse_data_url(image_url_of(part)))
    ]
    if images:
        converted["images"] = images
    if message.get("tool_calls"):
        converted["tool_calls"] = [_native_call(call.get("function") or {}) for call in message["tool_calls"]]
    if role == "tool":
        converted["tool_name"] = names.get(message.get("tool_call_id", ""), "")
    return converted


def _native_call(function: Json) -> Json:
    return {"function": {"name": function.get("name", ""), "arguments": parse_arguments(function.get("arguments"))}}


def _options(body: Json) -> Json:
    options = {ollama: body[openai] for openai, ollama in OPTION_FIELDS if body.get(openai) is not None}
    if limit := body.get("max_completion_tokens") or body.get("max_tokens"):
        options["num_predict"] = limit
    if stop := stop_list(body.get("stop")):
        options["stop"] = stop
    return options


def _format(response_format: Any) -> str | Json | None:
    if not isinstance(response_format, dict):
        return None
    if response_format.get("type") == "json_schema":
        return (response_format.get("json_schema") or {}).get("schema") or "json"
    return "json" if response_format.get("type") == "json_object" else None


# --- response --------------------------------------------------------------------------------------


def _usage(answer: Json) -> Json:
    return make_usage(answer.get("prompt_eval_count") or 0, answer.get("eval_count") or 0)


def _tool_calls(message: Json) -> list[Json]:
    return [
        tool_call(
            new_id("call_"), (call.get("function") or {}).get("name", ""), dump_arguments((call.get("function") or {}).get("arguments"))
        )
        for call in message.get("tool_calls") or ()
    ]


def _finish_reason(answer: Json, called: bool) -> str:
    if called:
        return "tool_calls"
    return "length" if answer.get("done_reason") == "length" else "stop"


def to_completion(answer: Json, model: str) -> Json:
    message = answer.get("message") or {}
    calls = _tool_calls(message)
    content = message.get("content") or ""
    choice = message_choice(0, content if content or not calls else None, calls, _finish_reason(answer, bool(calls)))
    return completion_response(new_id(), answer.get("model") or model, [choice], _usage(answer))


class _StreamTranslator:
    """Ollama stream objects → OpenAI chunks; the ``done`` object carries the finish and counts."""

    __slots__ = ("calls_seen", "chunks", "final", "first")

    def __init__(self, model: str) -> None:
        self.chunks = ChunkMaker(new_id(), model)
        self.first = True
        self.calls_seen = 0
        self.final: Json | None = None

    @property
    def finished(self) -> bool:
        return self.final is not None

    def translate(self, event: Json) -> Json:
        message = event.get("message") or {}
        delta: Json = {"content": message.get("content") or ""}
        if self.first:
            self.first = False
            self.chunks.model = event.get("model") or self.chunks.model
            delta = {"role": "assistant", **delta}
        if calls := _tool_calls(message):
            delta["tool_calls"] = [{"index": self.calls_seen + n, **call} for n, call in enumerate(calls)]
            self.calls_seen += len(calls)
        if not event.get("done"):
            return self.chunks.chunk(delta)
        self.final = event
        return self.chunks.chunk(delta, _finish_reason(event, self.calls_seen > 0))

    def usage_chunk(self) -> Json:
        return self.chunks.usage(_usage(self.final or {}))


class OllamaAdapter:
    async def chat(self, client: UpstreamClient, target: Target, body: Json) -> Json:
        payload = await prepared(is_long(body), build_request, body, target.model, stream=False)
        answer = await post_json(client, f"{target.base_url}/api/chat", target.bearer_headers(), payload, target.api_key, target.timeout)
        return to_completion(answer, target.model)

    def stream_chat(self, client: UpstreamClient, target: Target, body: Json, tally: StreamTally) -> AsyncGenerator[list[bytes], None]:
        payload = build_request(body, target.model, stream=True)
        url = f"{target.base_url}/api/chat"
        translator = _StreamTranslator(target.model)
        headers = target.bearer_headers()
        return translated_stream(client, url, headers, payload, target.api_key, translator, tally, NdjsonFraming(), target.stream_timeout)

    async def embed(self, client: UpstreamClient, target: Target, body: Json) -> Json:
        inputs = embedding_inputs(body)
        payload: Json = {"model": target.model, "input": inputs}
        if body.get("dimensions"):
            payload["dimensions"] = body["dimensions"]
        answer = await post_json(client, f"{target.base_url}/api/embed", target.bearer_headers(), payload, target.api_key, target.timeout)
        usage = embedding_usage(answer.get("prompt_eval_count"), inputs)
        return embedding_list(answer.get("embeddings") or [], target.model, usage, body.get("encoding_format"))

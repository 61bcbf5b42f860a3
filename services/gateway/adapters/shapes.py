"""OpenAI's shapes as the adapters build and read them: the JSON object type, ids, usage, answers and
stream chunks, the parts of a request's messages, embeddings.

Nothing here talks to the network; every adapter module and the tally build on it.
"""

from __future__ import annotations

import base64
import itertools
import secrets
import struct
import time
from typing import Any

import orjson

from services.errors import ErrorKind, UpstreamError
from services.gateway.token_count import estimate_tokens

Json = dict[str, Any]


_ID_PREFIX = secrets.token_hex(6)
_id_counter = itertools.count(1)


def new_id(prefix: str = "chatcmpl-") -> str:
    """Unique per process (random prefix) without a system call per id, unlike ``token_hex``."""
    return f"{prefix}{_ID_PREFIX}{next(_id_counter):x}"


def make_usage(prompt: int, completion: int, *, cached: int = 0, cache_write: int = 0, reasoning: int = 0) -> Json:
    usage: Json = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    if cached or cache_write:
        usage["prompt_tokens_details"] = {"cached_tokens": cached, "cache_write_tokens": cache_write}
    if reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return usage


def prompt_chars(body: Json) -> int:
    """The characters of a chat request's message texts, for an estimate."""
    return sum(len(text_of(m.get("content"))) for m in body.get("messages", ()) if isinstance(m, dict))


def estimated_usage(prompt_chars: int, completion_chars: int) -> Json:
    """Usage for an upstream that reported none, marked as estimated."""
    return {**make_usage(estimate_tokens(prompt_chars), estimate_tokens(completion_chars)), "estimated": True}


def completion_response(completion_id: str, model: str, choices: list[Json], usage: Json, created: int | None = None) -> Json:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created or int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage,
    }


def message_choice(index: int, content: str | None, tool_calls: list[Json], finish_reason: str | None) -> Json:
    """One choice of a translated answer; ``refusal`` is required by OpenAI's schema (it sends ``null``)."""
    message: Json = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"index": index, "message": message, "logprobs": None, "finish_reason": finish_reason}


def tool_call(call_id: str, name: str, arguments: str) -> Json:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


class ChunkMaker:
    """Builds the ``chat.completion.chunk`` dicts of one translated stream."""

    __slots__ = ("created", "id", "model")

    def __init__(self, completion_id: str, model: str) -> None:
        self.id = completion_id
        self.model = model
        self.created = int(time.time())

    def chunk(self, delta: Json, finish_reason: str | None = None, index: int = 0) -> Json:
        return self.choices([{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}])

    def choices(self, choices: list[Json]) -> Json:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model, "choices": choices}

    def usage(self, usage: Json) -> Json:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage,
        }


# --- request content helpers ---------------------------------------------------------------------


def text_of(content: Any) -> str:
    """The text of an OpenAI message ``content``: a string, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def content_parts(content: Any) -> list[Json]:
    """An OpenAI message ``content`` as a list of parts."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if isinstance(content, list):
        return [p for p in content if isinstance(p, dict)]
    return []


def image_url_of(part: Json) -> str:
    image = part.get("image_url")
    return image.get("url", "") if isinstance(image, dict) else str(image or "")


def parse_data_url(url: str) -> tuple[str, str] | None:
    """``data:image/png;base64,AAAA`` → (``image/png``, ``AAAA``); None for any other URL."""
    if not url.startswith("data:"):
        return None
    header, _, data = url.partition(",")
    media_type, _, encoding = header[5:].partition(";")
    if encoding != "base64":
        data = base64.b64encode(data.encode()).decode()
    return media_type or "application/octet-stream", data


def parse_arguments(arguments: Any) -> Json:
    """Tool-call arguments (an OpenAI JSON string) as the object other providers want."""
    if isinstance(arguments, dict):
        return arguments
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {"arguments": arguments}
    return value if isinstance(value, dict) else {"value": value}


def dump_arguments(arguments: Any) -> str:
    return orjson.dumps(arguments if arguments is not None else {}).decode()


def stop_list(stop: Any) -> list[str]:
    if isinstance(stop, str):
        return [stop]
    return [s for s in stop or () if isinstance(s, str)]


def tool_names_by_id(messages: list[Json]) -> dict[str, str]:
    """Which function each assistant tool call named: Gemini and Ollama answer by name, not id."""
    return {
        call.get("id", ""): (call.get("function") or {}).get("name", "")
        for message in messages
        if message.get("role") == "assistant"
        for call in message.get("tool_calls") or ()
        if isinstance(call, dict)
    }


def merge_consecutive(messages: list[Json], role_key: str, content_key: str) -> list[Json]:
    """Join neighbours of the same role into one message (Anthropic requires alternation).

    Each merged message gets its own list, extended in place: time linear in the messages however
    many run together (adding lists would copy the run so far for each one)."""
    merged: list[Json] = []
    for message in messages:
        if merged and merged[-1][role_key] == message[role_key]:
            merged[-1][content_key].extend(message[content_key])
        else:
            merged.append({**message, content_key: list(message[content_key])})
    return merged


def embedding_list(vectors: list[list[float]], model: str, usage: Json, encoding_format: str | None) -> Json:
    """An OpenAI embeddings answer; ``base64`` packs little-endian float32 as the OpenAI SDK expects."""
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": encode_vector(v, encoding_format)} for i, v in enumerate(vectors)],
        "model": model,
        "usage": usage,
    }


def embedding_usage(prompt_tokens: int | None, inputs: list[Any]) -> Json:
    """The upstream's count, or an estimate from the text inputs marked as one."""
    if prompt_tokens is not None:
        return {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    estimate = estimate_tokens(sum(len(text) for text in inputs if isinstance(text, str)))
    return {"prompt_tokens": estimate, "total_tokens": estimate, "estimated": True}


def encode_vector(vector: list[float], encoding_format: str | None) -> list[float] | str:
    if encoding_format != "base64":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def input_list(body: Json) -> list[Any]:
    """The ``input`` of an embeddings request as a list."""
    value = body.get("input")
    return [value] if isinstance(value, str) else list(value or ())


def embedding_inputs(body: Json) -> list[str]:
    """The ``input`` of an embeddings request as texts, for providers that take no token arrays."""
    items = input_list(body)
    if not all(isinstance(item, str) for item in items):
        raise UpstreamError(ErrorKind.BAD_REQUEST, "this provider takes embedding input as text, not token arrays", status=400)
    return items

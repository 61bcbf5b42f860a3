"""Upstream emulator: one aiohttp server speaking the OpenAI (chat completions, Responses, legacy completions), Anthropic,
Gemini and Ollama wire formats, the cloud providers' (``emulator_clouds``) and OpenAI's image and audio
endpoints (``emulator_media``).

The API key picks the behaviour (`<behaviour>[:<param>][#<anything>]`; `#...` only makes keys
distinct), so one server plays a healthy upstream, a rate-limited one, a dead one and a flaky
stream side by side:

    ok (or any other key, or none)   normal answer
    rate-limit[:secs]                429 + Retry-After: secs (default 7)
    rate-limit-date[:secs]           the same, Retry-After as an HTTP date
    rate-limit-once[:secs]           429 for the first request with this exact key (and model suffix), then ok
    error-500, overloaded            500; 503 (Anthropic: 529 overloaded_error)
    unauthorized, forbidden          401, 403 with the provider's auth error body
    quota                            OpenAI 429 insufficient_quota, Anthropic 400 credit balance,
                                     Gemini 429 RESOURCE_EXHAUSTED + QuotaFailure, Ollama 402
    context, bad-request             400 (context: OpenAI code context_length_exceeded)
    context-limit[:words]            the `context` error when the prompt has more than `words` words
                                     (default 100), else a normal answer
    slow[:secs]                      first token (or the whole JSON answer) after secs (default 1)
    drip[:secs]                      streams one word every secs (default 0.2); non-stream answers at once
    many-models[:n]                  the models lists hold n more models (default 60), so their pages are exercised
    hang                             never answers
    reset                            TCP RST, no answer
    break-stream                     two words, then the connection closes mid-body (non-stream: reset)
    stream-error                     two words, then the provider's in-stream error (non-stream: overloaded)
    tool-use                         (OpenAI, Anthropic) a request with tools is answered with a call of its first tool,
                                     input `{"text": <last user text>}`, streamed in pieces (`input_json_delta`);
                                     a request whose last message is a tool result gets the usual text answer
    thinking                         (Anthropic) a `thinking` block with a `signature` before the answer
                                     (streamed as `thinking_delta` and `signature_delta`)

Providers meter per model, so a behaviour can also be picked per model: a model name with a suffix
`@<behaviour>[:<param>]` (`gpt-4o@rate-limit:30`, `gpt-4o-mini@context-limit:5`) behaves so whatever
the key, while the same key's other models keep their key's behaviour. The suffix stays part of the
model name in the answer.

Answers are deterministic (`"Echo: " + <last user text>`, one word per stream frame) and token
counts are whitespace-word counts (prompt: all message texts incl. system), so tests can assert
exact text and usage. Embeddings are `embedding_for(text)`; OpenAI embedding models named `bow-*` answer
`bag_of_words_for(text)` instead, whose cosine similarity follows the words two texts share (the semantic cache's tests).

Run alone: `python -m tests.upstream_emulator --port 9100 [--host 127.0.0.1]`.
In tests: `handle = start_emulator()`; `handle.url`, `handle.requests()`, `handle.reset()`, `handle.stop()`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import email.utils
import hashlib
import itertools
import math
import re
import socket
import struct
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, ClassVar

import orjson
from aiohttp import web

from tests.emulator_tools import missing_signature, sample_of, thought_signature, wants_tool

JSON = dict[str, Any]

ERROR_KINDS = frozenset({"rate-limit", "quota", "error-500", "overloaded", "unauthorized", "forbidden", "context", "bad-request"})
BEHAVIOURS = ERROR_KINDS | {
    "ok", "rate-limit-date", "rate-limit-once", "context-limit", "slow", "drip", "hang", "reset", "break-stream", "stream-error",
    "many-models", "tool-use", "thinking",
}
DEFAULT_RETRY_AFTER = 7.0
DEFAULT_SLOW_SECONDS = 1.0
DEFAULT_DRIP_SECONDS = 0.2
DEFAULT_CONTEXT_WORDS = 100
EMBEDDING_SIZE = 8
STREAM_FAILURE_AFTER = 2
"""`break-stream` and `stream-error` send this many text chunks before failing."""
RECORD_LIMIT = 20_000
"""Recorded requests kept; beyond it the oldest half is dropped so a long benchmark cannot exhaust memory."""
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "x-goog-api-key", "cookie", "proxy-authorization"})
REDACTED = "<redacted>"

MODELS: dict[str, tuple[str, ...]] = {
    "openai": ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small"),
    "anthropic": ("claude-sonnet-4-5", "claude-haiku-4-5"),
    "gemini": ("gemini-2.5-flash", "gemini-2.5-pro", "text-embedding-004"),
    "ollama": ("llama3.2:latest", "nomic-embed-text:latest"),
}

DEFAULT_EXTRA_MODELS = 60
"""`many-models` without a count: more than one default page of Anthropic's (20) and Gemini's (50) lists."""
PAGE_LIMITS = {"anthropic": (20, 1000), "gemini": (50, 1000)}
"""Models per page of a paginated list: (default, maximum), from the providers' API references."""

_WORD = re.compile(r"\S+\s*")
_ids = itertools.count(1)


# --- behaviours ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What the emulator does for one request, parsed from the API key."""

    name: str
    param: float | None = None

    def seconds(self, default: float) -> float:
        return default if self.param is None else self.param


OK = Behaviour("ok")


@lru_cache(maxsize=4096)
def parse_behaviour(key: str | None) -> Behaviour:
    """`rate-limit:3#a` -> Behaviour("rate-limit", 3.0); a key naming no behaviour means `ok`."""
    if not key:
        return OK
    name, _, param = key.partition("#")[0].partition(":")
    if name not in BEHAVIOURS:
        return OK
    try:
        return Behaviour(name, float(param) if param else None)
    except ValueError:
        return Behaviour(name)


def model_behaviour(model: object) -> Behaviour | None:
    """`gpt-4o@rate-limit:30` -> Behaviour("rate-limit", 30.0); None for a model name without a suffix."""
    if not isinstance(model, str) or "@" not in model:
        return None
    return parse_behaviour(model.partition("@")[2])


# --- deterministic content -------------------------------------------------------------------


def count_words(text: str) -> int:
    return len(text.split())


def answer_for(last_user_text: str) -> str:
    return "Echo: " + last_user_text


def split_words(answer: str) -> list[str]:
    """Stream pieces: one word with its trailing whitespace each; they join back to `answer`."""
    return _WORD.findall(answer) or [answer]


@lru_cache(maxsize=4096)
def _embedding(text: str) -> tuple[float, ...]:
    digest = hashlib.sha256(text.encode()).digest()
    return tuple(round(int.from_bytes(digest[i * 4 : i * 4 + 4], "big") / 2**31 - 1, 6) for i in range(EMBEDDING_SIZE))


def embedding_for(text: str) -> list[float]:
    """The deterministic embedding (length 8, values in [-1, 1)) every dialect returns for `text`."""
    return list(_embedding(text))


BOW_SIZE = 256


def bag_of_words_for(text: str) -> list[float]:
    """A `bow-*` model's embedding: the count of each lower-cased word, hashed into one of `BOW_SIZE` slots."""
    vector = [0.0] * BOW_SIZE
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big") % BOW_SIZE] += 1.0
    return vector


def text_of(content: Any) -> str:
    """Plain text of a message content: a string, or a list/dict of parts or blocks carrying `text`."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(filter(None, (text_of(part) for part in content)))
    if isinstance(content, dict):
        if isinstance(content.get("text"), str):
            return content["text"]
        return text_of(content.get("content") or content.get("parts"))
    return ""


def as_texts(value: Any) -> list[str]:
    """Embedding inputs as strings: a string, a list of strings, or token id list(s)."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        return []
    if value and all(isinstance(item, int) for item in value):
        return [" ".join(map(str, value))]
    return [item if isinstance(item, str) else " ".join(map(str, item)) for item in value]


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


THOUGHT = "Let me think about that."
TOOL_PIECES = 3
"""A tool call's arguments are streamed in this many pieces."""


@dataclass
class Reply:
    """A chat answer computed from a request, shared by the JSON and streaming renderers: text, or
    (``tool``) a call of the named tool whose arguments are ``answer`` (JSON text)."""

    model: str
    prompt_tokens: int
    answer: str
    body: JSON
    tool: str | None = None
    thinking: bool = False
    id: str = field(default_factory=lambda: f"emu{next(_ids)}")
    created: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self) -> None:
        if self.tool is None:
            self.pieces = split_words(self.answer)
        else:
            size = -(-len(self.answer) // TOOL_PIECES)
            self.pieces = [self.answer[i : i + size] for i in range(0, len(self.answer), size)]
        self.completion_tokens = count_words(self.answer)

    @property
    def signature(self) -> str:
        """The thinking block's signature: opaque, but the same for the same thought."""
        return base64.b64encode(hashlib.sha256(THOUGHT.encode()).digest()).decode()

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def sse(data: JSON, event: str | None = None, end: bytes = b"\n\n") -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + orjson.dumps(data) + end


def bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


# --- dialects --------------------------------------------------------------------------------


class Dialect(ABC):
    """One provider's wire format: where the key is, body shapes, stream framing and error bodies."""

    name: str
    stream_content_type = "text/event-stream"
    chat_required: tuple[str, ...] = ("model", "messages")

    @abstractmethod
    def api_key(self, request: web.Request) -> str | None: ...

    @abstractmethod
    def conversation(self, body: JSON) -> tuple[list[str], str]:
        """All prompt texts (system included) and the text of the last user message."""

    @abstractmethod
    def chat_json(self, reply: Reply) -> JSON: ...

    def stream_head(self, reply: Reply) -> bytes:
        return b""

    @abstractmethod
    def stream_piece(self, reply: Reply, index: int) -> bytes: ...

    def stream_tail(self, reply: Reply) -> bytes:
        return b""

    @abstractmethod
    def stream_error(self) -> bytes: ...

    @abstractmethod
    def error(self, kind: str, retry_after: float, message: str | None = None) -> tuple[int, JSON]:
        """Status and body of an error of `kind` (one of ERROR_KINDS); `message` overrides the text."""

    @abstractmethod
    def models_json(self, models: list[str], query: dict[str, str]) -> JSON:
        """The models list (one page of it where the provider pages it; ``query`` holds the paging parameters)."""

    def refusal(self, body: JSON, model: str) -> str | None:
        """Why the provider would refuse this (well-formed) request with a 400, or None: the rules of
        current models that a translating gateway must respect."""
        return None

    def called_tool(self, body: JSON) -> str | None:
        """The tool a `tool-use` answer calls: the request's first, unless its last message is a tool result."""
        return None

    def forced_tool(self, body: JSON, last_user: str) -> tuple[str, JSON] | None:
        """The tool call (name, arguments) a request forces or asks for in words (``emulator_tools``), or None."""
        return None

    def schema_for(self, body: JSON) -> JSON | None:
        """The JSON schema the answer must follow (structured output), or None."""
        return None

    def reply(self, body: JSON, model: str, behaviour: Behaviour = OK) -> Reply:
        prompt_texts, last_user = self.conversation(body)
        prompt_tokens = sum(count_words(text) for text in prompt_texts)
        tool = self.called_tool(body) if behaviour.name == "tool-use" else None
        call = (tool, {"text": last_user}) if tool else self.forced_tool(body, last_user)
        if call is not None:
            answer = orjson.dumps(call[1]).decode()
        elif (schema := self.schema_for(body)) is not None:
            answer = orjson.dumps(sample_of(schema, last_user)).decode()
        else:
            answer = answer_for(last_user)
        return Reply(model=model, prompt_tokens=prompt_tokens, answer=answer, body=body, tool=call[0] if call else None,
                     thinking=behaviour.name == "thinking")


def last_user_text(messages: list[JSON], user_roles: tuple[str | None, ...] = ("user",)) -> str:
    for message in reversed(messages):
        if message.get("role") in user_roles:
            return text_of(message.get("content", message.get("parts")))
    return ""


class OpenAIDialect(Dialect):
    name = "openai"
    _ERRORS: ClassVar[dict[str, tuple[int, str, str | None, str]]] = {
        "rate-limit": (429, "requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
        "quota": (
            429, "insufficient_quota", "insufficient_quota", "You exceeded your current quota, please check your plan and billing details."
        ),
        "error-500": (500, "server_error", None, "The server had an error while processing your request. Sorry about that!"),
        "overloaded": (503, "server_error", None, "The engine is currently overloaded, please try again later."),
        "unauthorized": (401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
        "forbidden": (403, "request_forbidden", "unsupported_country_region_territory", "Country, region, or territory not supported"),
        "context": (
            400,
            "invalid_request_error",
            "context_length_exceeded",
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens. "
            "Please reduce the length of the messages.",
        ),
        "bad-request": (400, "invalid_request_error", None, "Invalid request body."),
    }

    def api_key(self, request: web.Request) -> str | None:
        return bearer(request)

    def conversation(self, body: JSON) -> tuple[list[str], str]:
        """A tool result counts as the user's last word (the answer to a tool call echoes it)."""
        messages = body.get("messages") or []
        return [text_of(m.get("content")) for m in messages], last_user_text(messages, ("user", "tool"))

    def called_tool(self, body: JSON) -> str | None:
        messages, tools = body.get("messages") or [{}], body.get("tools") or []
        if not tools or messages[-1].get("role") == "tool":
            return None
        return str((tools[0].get("function") or {}).get("name"))

    def chat_json(self, reply: Reply) -> JSON:
        message: JSON = {"role": "assistant", "content": reply.answer, "refusal": None}
        if reply.tool:
            message.update(content=None, tool_calls=[self._call(reply, reply.answer)])
        return {
            **self._envelope(reply, "chat.completion"),
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls" if reply.tool else "stop"}],
            "usage": self._usage(reply),
        }

    def stream_head(self, reply: Reply) -> bytes:
        if reply.tool:
            return self._chunk(reply, {"role": "assistant", "content": None, "tool_calls": [{"index": 0, **self._call(reply, "")}]})
        return self._chunk(reply, {"role": "assistant", "content": ""})

    def stream_piece(self, reply: Reply, index: int) -> bytes:
        if reply.tool:
            return self._chunk(reply, {"tool_calls": [{"index": 0, "function": {"arguments": reply.pieces[index]}}]})
        return self._chunk(reply, {"content": reply.pieces[index]})

    def stream_tail(self, reply: Reply) -> bytes:
        tail = self._chunk(reply, {}, "tool_calls" if reply.tool else "stop")
        if (reply.body.get("stream_options") or {}).get("include_usage"):
            tail += sse({**self._envelope(reply, "chat.completion.chunk"), "choices": [], "usage": self._usage(reply)})
        return tail + b"data: [DONE]\n\n"

    def stream_error(self) -> bytes:
        return sse(self.error("error-500", 0)[1])

    def error(self, kind: str, retry_after: float, message: str | None = None) -> tuple[int, JSON]:
        status, error_type, code, text = self._ERRORS[kind]
        return status, {"error": {"message": message or text, "type": error_type, "param": None, "code": code}}

    def embed_json(self, model: str, texts: list[str], encoding_format: str) -> JSON:
        vector = bag_of_words_for if model.startswith("bow-") else embedding_for

        def encode(text: str) -> Any:
            values = vector(text)
            return _base64_floats(values) if encoding_format == "base64" else values

        data = [{"object": "embedding", "index": i, "embedding": encode(text)} for i, text in enumerate(texts)]
        tokens = sum(count_words(text) for text in texts)
        return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    def models_json(self, models: list[str], query: dict[str, str]) -> JSON:
        """`GET /v1/models`: one unpaged list."""
        data = [{"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "emulator"} for model in models]
        return {"object": "list", "data": data}

    @staticmethod
    def _envelope(reply: Reply, kind: str) -> JSON:
        return {"id": f"chatcmpl-{reply.id}", "object": kind, "created": reply.created, "model": reply.model}

    @staticmethod
    def _call(reply: Reply, arguments: str) -> JSON:
        return {"id": f"call_{reply.id}", "type": "function", "function": {"name": reply.tool, "arguments": arguments}}

    @staticmethod
    def _usage(reply: Reply) -> JSON:
        return {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens, "total_tokens": reply.total_tokens}

    def _chunk(self, reply: Reply, delta: JSON, finish_reason: str | None = None) -> bytes:
        """A content chunk. Asked for usage, OpenAI puts ``"usage": null`` in every chunk but the last."""
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        chunk = {**self._envelope(reply, "chat.completion.chunk"), "choices": [choice]}
        if (reply.body.get("stream_options") or {}).get("include_usage"):
            chunk["usage"] = None
        return sse(chunk)


def _base64_floats(values: list[float]) -> str:
    """OpenAI's `encoding_format: base64`: little-endian float32 values, base64-encoded."""
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


class AnthropicDialect(Dialect):
    name = "anthropic"
    chat_required = ("model", "messages", "max_tokens")
    _ERRORS: ClassVar[dict[str, tuple[int, str, str]]] = {
        "rate-limit": (429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
        "quota": (
            400,
            "invalid_request_error",
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
        ),
        "error-500": (500, "api_error", "Internal server error"),
        "overloaded": (529, "overloaded_error", "Overloaded"),
        "unauthorized": (401, "authentication_error", "invalid x-api-key"),
        "forbidden": (403, "permission_error", "Your API key does not have permission to use the specified resource."),
        "context": (400, "invalid_request_error", "prompt is too long: 213513 tokens > 200000 maximum"),
        "bad-request": (400, "invalid_request_error", "Invalid request body."),
    }

    def api_key(self, request: web.Request) -> str | None:
        return request.headers.get("x-api-key") or bearer(request)

    def conversation(self, body: JSON) -> tuple[list[str], str]:
        messages = body.get("messages") or []
        texts = [text_of(body.get("system"))] + [text_of(m.get("content")) for m in messages]
        return texts, last_user_text(messages)

    def refusal(self, body: JSON, model: str) -> str | None:
        return claude_refusal(body)

    def forced_tool(self, body: JSON, last_user: str) -> tuple[str, JSON] | None:
        tools = [tool for tool in body.get("tools") or () if "input_schema" in tool]
        choice = body.get("tool_choice") or {}
        if not tools or not wants_tool(last_user, choice.get("type") in ("any", "tool")):
            return None
        tool = next((t for t in tools if t.get("name") == choice.get("name")), tools[0])
        return tool["name"], sample_of(tool["input_schema"], last_user)

    def schema_for(self, body: JSON) -> JSON | None:
        """Native structured output (GA): ``output_config.format`` of type ``json_schema``."""
        output_format = (body.get("output_config") or {}).get("format") or {}
        return output_format.get("schema") if output_format.get("type") == "json_schema" else None

    def called_tool(self, body: JSON) -> str | None:
        messages, tools = body.get("messages") or [{}], body.get("tools") or []
        content = messages[-1].get("content")
        if not tools or (isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)):
            return None
        return str(tools[0].get("name"))

    def chat_json(self, reply: Reply) -> JSON:
        content = [{"type": "thinking", "thinking": THOUGHT, "signature": reply.signature}] if reply.thinking else []
        if reply.tool:
            content.append({**self._tool_block(reply), "input": orjson.loads(reply.answer)})
        else:
            content.append({"type": "text", "text": reply.answer})
        return {
            **self._message(reply, content, "tool_use" if reply.tool else "end_turn"),
            "usage": {"input_tokens": reply.prompt_tokens, "output_tokens": reply.completion_tokens},
        }

    def stream_head(self, reply: Reply) -> bytes:
        message = {**self._message(reply, [], None), "usage": {"input_tokens": reply.prompt_tokens, "output_tokens": 1}}
        head = sse({"type": "message_start", "message": message}, "message_start")
        if reply.thinking:
            head += (
                self._block_start(0, {"type": "thinking", "thinking": "", "signature": ""})
                + self._block_delta(0, {"type": "thinking_delta", "thinking": THOUGHT})
                + self._block_delta(0, {"type": "signature_delta", "signature": reply.signature})
                + sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
            )
        block = self._tool_block(reply) if reply.tool else {"type": "text", "text": ""}
        return head + self._block_start(self._answer_index(reply), block) + sse({"type": "ping"}, "ping")

    def stream_piece(self, reply: Reply, index: int) -> bytes:
        if reply.tool:
            delta = {"type": "input_json_delta", "partial_json": reply.pieces[index]}
        else:
            delta = {"type": "text_delta", "text": reply.pieces[index]}
        return self._block_delta(self._answer_index(reply), delta)

    def stream_tail(self, reply: Reply) -> bytes:
        usage = {"input_tokens": reply.prompt_tokens, "output_tokens": reply.completion_tokens}
        delta = {"stop_reason": "tool_use" if reply.tool else "end_turn", "stop_sequence": None}
        return (
            sse({"type": "content_block_stop", "index": self._answer_index(reply)}, "content_block_stop")
            + sse({"type": "message_delta", "delta": delta, "usage": usage}, "message_delta")
            + sse({"type": "message_stop"}, "message_stop")
        )

    def count_json(self, body: JSON) -> JSON:
        """`POST /v1/messages/count_tokens`: the prompt's tokens as the emulator counts them."""
        return {"input_tokens": prompt_words(self, body)}

    @staticmethod
    def _answer_index(reply: Reply) -> int:
        return 1 if reply.thinking else 0

    @staticmethod
    def _tool_block(reply: Reply) -> JSON:
        return {"type": "tool_use", "id": f"toolu_{reply.id}", "name": reply.tool, "input": {}}

    @staticmethod
    def _block_start(index: int, block: JSON) -> bytes:
        return sse({"type": "content_block_start", "index": index, "content_block": block}, "content_block_start")

    @staticmethod
    def _block_delta(index: int, delta: JSON) -> bytes:
        return sse({"type": "content_block_delta", "index": index, "delta": delta}, "content_block_delta")

    def stream_error(self) -> bytes:
        return sse(self.error("overloaded", 0)[1], "error")

    def error(self, kind: str, retry_after: float, message: str | None = None) -> tuple[int, JSON]:
        status, error_type, text = self._ERRORS[kind]
        return status, {"type": "error", "error": {"type": error_type, "message": message or text}, "request_id": "req_emulator"}

    def models_json(self, models: list[str], query: dict[str, str]) -> JSON:
        """`GET /v1/models?limit=&after_id=&before_id=`: a page of `limit` (default 20, 1-1000) after or before a cursor."""
        limit = page_size(query.get("limit"), "anthropic")
        if query.get("before_id") in models:
            end = models.index(query["before_id"])
            page, more = models[max(0, end - limit) : end], end - limit > 0
        else:
            start = models.index(query["after_id"]) + 1 if query.get("after_id") in models else 0
            page, more = models[start : start + limit], start + limit < len(models)
        data = [{"type": "model", "id": m, "display_name": m.replace("-", " ").title(), "created_at": "2025-01-01T00:00:00Z",
                 "max_input_tokens": 200_000, "max_tokens": 64_000} for m in page]
        return {"data": data, "has_more": more, "first_id": page[0] if page else None, "last_id": page[-1] if page else None}

    @staticmethod
    def _message(reply: Reply, content: list[JSON], stop_reason: str | None) -> JSON:
        return {
            "id": f"msg_{reply.id}",
            "type": "message",
            "role": "assistant",
            "model": reply.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
        }


class GeminiDialect(Dialect):
    name = "gemini"
    chat_required = ("contents",)
    _RPC = "type.googleapis.com/google.rpc."
    _ERRORS: ClassVar[dict[str, tuple[int, str, str]]] = {
        "rate-limit": (429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
        "quota": (429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details."),
        "error-500": (500, "INTERNAL", "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"),
        "overloaded": (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
        "unauthorized": (401, "UNAUTHENTICATED", "API key not valid. Please pass a valid API key."),
        "forbidden": (403, "PERMISSION_DENIED", "Permission denied: Consumer has been suspended."),
        "context": (400, "INVALID_ARGUMENT", "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."),
        "bad-request": (400, "INVALID_ARGUMENT", "Invalid JSON payload received."),
    }

    def api_key(self, request: web.Request) -> str | None:
        return request.headers.get("x-goog-api-key") or request.query.get("key")

    def conversation(self, body: JSON) -> tuple[list[str], str]:
        contents = body.get("contents") or []
        if isinstance(contents, dict):
            contents = [contents]
        system = body.get("systemInstruction") or body.get("system_instruction")
        texts = [text_of(system)] + [text_of(c.get("parts")) for c in contents]
        return texts, last_user_text(contents, ("user", None))

    def refusal(self, body: JSON, model: str) -> str | None:
        """Gemini 3 refuses a replayed ``functionCall`` without the ``thoughtSignature`` it came with."""
        return missing_signature(body.get("contents") or []) if model.startswith("gemini-3") else None

    def forced_tool(self, body: JSON, last_user: str) -> tuple[str, JSON] | None:
        declarations = [d for tool in body.get("tools") or () for d in tool.get("functionDeclarations") or ()]
        calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
        if not declarations or not wants_tool(last_user, calling.get("mode") == "ANY"):
            return None
        allowed = calling.get("allowedFunctionNames") or ()
        declaration = next((d for d in declarations if d.get("name") in allowed), declarations[0])
        schema = declaration.get("parametersJsonSchema") or declaration.get("parameters") or {}
        return declaration["name"], sample_of(schema, last_user)

    def schema_for(self, body: JSON) -> JSON | None:
        config = body.get("generationConfig") or {}
        return config.get("responseJsonSchema") or config.get("responseSchema")

    def chat_json(self, reply: Reply) -> JSON:
        return self._response(reply, reply.answer, reply.completion_tokens, final=True)

    def stream_piece(self, reply: Reply, index: int) -> bytes:
        """A text answer word by word; a function call whole, in the last frame (as Gemini streams one)."""
        final = index == len(reply.pieces) - 1
        if reply.tool is not None and not final:
            return b""
        return sse(self._response(reply, reply.pieces[index], index + 1, final), end=b"\r\n\r\n")

    def stream_error(self) -> bytes:
        return sse(self.error("overloaded", 0)[1], end=b"\r\n\r\n")

    def error(self, kind: str, retry_after: float, message: str | None = None) -> tuple[int, JSON]:
        status, code, text = self._ERRORS[kind]
        error: JSON = {"code": status, "message": message or text, "status": code}
        if details := self._details(kind, retry_after):
            error["details"] = details
        return status, {"error": error}

    def embed_json(self, model: str, texts: list[str], action: str) -> JSON:
        vectors = [{"values": embedding_for(text)} for text in texts]
        return {"embedding": vectors[0]} if action == "embedContent" else {"embeddings": vectors}

    def models_json(self, models: list[str], query: dict[str, str]) -> JSON:
        """`GET /v1beta/models?pageSize=&pageToken=`: `pageSize` models (default 50, at most 1000) and a
        `nextPageToken` while more remain (an opaque token here: the offset, base64)."""

        def describe(model: str) -> JSON:
            embedding = "embedding" in model
            methods = ["embedContent", "batchEmbedContents"] if embedding else ["generateContent", "countTokens"]
            return {"name": f"models/{model}", "baseModelId": model, "version": "001", "displayName": model,
                    "description": f"Emulated {model}", "inputTokenLimit": 2048 if embedding else 1_048_576,
                    "outputTokenLimit": 1 if embedding else 65_536, "supportedGenerationMethods": methods}

        start = int(base64.urlsafe_b64decode(query["pageToken"]).decode()) if query.get("pageToken") else 0
        end = start + page_size(query.get("pageSize"), "gemini")
        answer: JSON = {"models": [describe(model) for model in models[start:end]]}
        if end < len(models):
            answer["nextPageToken"] = base64.urlsafe_b64encode(str(end).encode()).decode()
        return answer

    @staticmethod
    def embed_texts(body: JSON, action: str) -> list[str]:
        items = [body] if action == "embedContent" else body.get("requests") or []
        return [text_of(item.get("content")) for item in items]

    def _details(self, kind: str, retry_after: float) -> list[JSON]:
        if kind == "rate-limit":
            return [{"@type": self._RPC + "RetryInfo", "retryDelay": f"{math.ceil(retry_after)}s"}]
        if kind == "quota":
            violation = {
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                "quotaId": "GenerateRequestsPerDayPerProjectPerModel",
            }
            return [{"@type": self._RPC + "QuotaFailure", "violations": [violation]}]
        if kind == "unauthorized":
            return [{"@type": self._RPC + "ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]
        return []

    @staticmethod
    def _response(reply: Reply, text: str, completion_tokens: int, final: bool) -> JSON:
        part: JSON = {"text": text}
        if reply.tool is not None:
            arguments = orjson.loads(reply.answer)
            part = {"functionCall": {"name": reply.tool, "args": arguments}, "thoughtSignature": thought_signature(reply.tool, arguments)}
        candidate: JSON = {"content": {"parts": [part], "role": "model"}, "index": 0}
        if final:
            candidate["finishReason"] = "STOP"
        usage = {
            "promptTokenCount": reply.prompt_tokens,
            "candidatesTokenCount": completion_tokens,
            "totalTokenCount": reply.prompt_tokens + completion_tokens,
        }
        return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": reply.model, "responseId": reply.id}


class CompletionsDialect(OpenAIDialect):
    """OpenAI's legacy completions (``POST /v1/completions``): ``prompt`` (and ``suffix``, recorded) in,
    ``text_completion`` choices out; streamed as ``data:`` chunks ending in ``[DONE]``."""

    chat_required = ("model", "prompt")

    def conversation(self, body: JSON) -> tuple[list[str], str]:
        prompt = body.get("prompt")
        text = prompt if isinstance(prompt, str) else " ".join(p for p in prompt or () if isinstance(p, str))
        return [text], text

    def chat_json(self, reply: Reply) -> JSON:
        choice = {"text": reply.answer, "index": 0, "logprobs": None, "finish_reason": "stop"}
        return {**self._envelope(reply, "text_completion"), "id": f"cmpl-{reply.id}", "choices": [choice], "usage": self._usage(reply)}

    def stream_head(self, reply: Reply) -> bytes:
        return b""

    def stream_piece(self, reply: Reply, index: int) -> bytes:
        return self._text_chunk(reply, reply.pieces[index], None)

    def stream_tail(self, reply: Reply) -> bytes:
        tail = self._text_chunk(reply, "", "stop")
        if (reply.body.get("stream_options") or {}).get("include_usage"):
            tail += sse({**self._envelope(reply, "text_completion"), "id": f"cmpl-{reply.id}", "choices": [], "usage": self._usage(reply)})
        return tail + b"data: [DONE]\n\n"

    def _text_chunk(self, reply: Reply, text: str, finish_reason: str | None) -> bytes:
        choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}
        return sse({**self._envelope(reply, "text_completion"), "id": f"cmpl-{reply.id}", "choices": [choice]})


class ResponsesDialect(OpenAIDialect):
    """OpenAI's Responses API (``POST /v1/responses``): ``input`` as text or items, ``instructions``,
    function tools, ``text.format``; a stream of typed events (``response.created`` …
    ``response.completed``, each with its ``sequence_number``), ``response.failed`` when it breaks."""

    chat_required = ("model", "input")

    def conversation(self, body: JSON) -> tuple[list[str], str]:
        items = self._items(body)
        texts = [text_of(body.get("instructions"))]
        texts += [text_of(item.get("content")) or str(item.get("output") or "") for item in items]
        return texts, last_user_text([item for item in items if item.get("type", "message") == "message"])

    def called_tool(self, body: JSON) -> str | None:
        tools = [tool for tool in body.get("tools") or () if tool.get("type") == "function"]
        if not tools or self._answers_a_call(body):
            return None
        return str(tools[0].get("name"))

    def forced_tool(self, body: JSON, last_user: str) -> tuple[str, JSON] | None:
        tools = [tool for tool in body.get("tools") or () if tool.get("type") == "function"]
        choice = body.get("tool_choice")
        forced = choice == "required" or (isinstance(choice, dict) and choice.get("type") == "function")
        if not tools or self._answers_a_call(body) or not wants_tool(last_user, forced):
            return None
        named = choice.get("name") if isinstance(choice, dict) else None
        tool = next((t for t in tools if t.get("name") == named), tools[0])
        return tool["name"], sample_of(tool.get("parameters") or {}, last_user)

    def schema_for(self, body: JSON) -> JSON | None:
        text_format = (body.get("text") or {}).get("format") or {}
        return text_format.get("schema") if text_format.get("type") == "json_schema" else None

    def chat_json(self, reply: Reply) -> JSON:
        return self._response(reply, "completed", [self._item(reply, "completed")])

    def stream_head(self, reply: Reply) -> bytes:
        started = self._response(reply, "in_progress", [])
        head = self._event(reply, 0, "response.created", response=started)
        head += self._event(reply, 1, "response.in_progress", response=started)
        head += self._event(reply, 2, "response.output_item.added", output_index=0, item=self._item(reply, "in_progress"))
        if reply.tool is None:
            head += self._event(reply, 3, "response.content_part.added", item_id=self._item_id(reply), output_index=0, content_index=0,
                                part=self._text_part(""))
        return head

    def stream_piece(self, reply: Reply, index: int) -> bytes:
        number = self._head_events(reply) + index
        if reply.tool is not None:
            return self._event(reply, number, "response.function_call_arguments.delta", item_id=self._item_id(reply), output_index=0,
                               delta=reply.pieces[index])
        return self._event(reply, number, "response.output_text.delta", item_id=self._item_id(reply), output_index=0, content_index=0,
                           delta=reply.pieces[index], logprobs=[])

    def stream_tail(self, reply: Reply) -> bytes:
        number = self._head_events(reply) + len(reply.pieces)
        item_id = self._item_id(reply)
        if reply.tool is not None:
            tail = self._event(reply, number, "response.function_call_arguments.done", item_id=item_id, output_index=0,
                               arguments=reply.answer)
        else:
            tail = self._event(reply, number, "response.output_text.done", item_id=item_id, output_index=0, content_index=0,
                               text=reply.answer, logprobs=[])
            number += 1
            tail += self._event(reply, number, "response.content_part.done", item_id=item_id, output_index=0, content_index=0,
                                part=self._text_part(reply.answer))
        done = self._item(reply, "completed")
        tail += self._event(reply, number + 1, "response.output_item.done", output_index=0, item=done)
        return tail + self._event(reply, number + 2, "response.completed", response=self._response(reply, "completed", [done]))

    def stream_error(self) -> bytes:
        """What OpenAI sends when a response fails mid-stream: ``response.failed`` with the error."""
        failed = {"id": "resp_failed", "object": "response", "created_at": int(time.time()), "status": "failed", "model": "",
                  "output": [], "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
                  "error": {"code": "server_error", "message": "The server had an error while processing your request."}}
        return sse({"type": "response.failed", "sequence_number": 99, "response": failed}, "response.failed")

    @staticmethod
    def _items(body: JSON) -> list[JSON]:
        given = body.get("input")
        if isinstance(given, str):
            return [{"type": "message", "role": "user", "content": given}]
        return [item for item in given or () if isinstance(item, dict)]

    def _answers_a_call(self, body: JSON) -> bool:
        items = self._items(body)
        return bool(items) and items[-1].get("type") == "function_call_output"

    @staticmethod
    def _head_events(reply: Reply) -> int:
        return 3 if reply.tool is not None else 4

    @staticmethod
    def _item_id(reply: Reply) -> str:
        return f"{'fc' if reply.tool else 'msg'}_{reply.id}"

    @staticmethod
    def _text_part(text: str) -> JSON:
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}

    def _item(self, reply: Reply, status: str) -> JSON:
        if reply.tool is not None:
            arguments = reply.answer if status == "completed" else ""
            return {"type": "function_call", "id": self._item_id(reply), "call_id": f"call_{reply.id}", "name": reply.tool,
                    "arguments": arguments, "status": status}
        content = [self._text_part(reply.answer)] if status == "completed" else []
        return {"type": "message", "id": self._item_id(reply), "status": status, "role": "assistant", "content": content}

    @staticmethod
    def _response(reply: Reply, status: str, output: list[JSON]) -> JSON:
        body = reply.body
        usage = None
        if status == "completed":
            usage = {"input_tokens": reply.prompt_tokens, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                     "output_tokens": reply.completion_tokens, "output_tokens_details": {"reasoning_tokens": 0},
                     "total_tokens": reply.total_tokens}
        return {
            "id": f"resp_{reply.id}", "object": "response", "created_at": reply.created, "status": status, "error": None,
            "incomplete_details": None, "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
            "model": reply.model, "output": output, "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"), "reasoning": {"effort": None, "summary": None},
            "store": body.get("store", True), "temperature": body.get("temperature", 1.0),
            "text": body.get("text") or {"format": {"type": "text"}}, "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [], "top_p": body.get("top_p", 1.0), "truncation": "disabled", "usage": usage,
            "user": None, "metadata": body.get("metadata") or {},
        }

    @staticmethod
    def _event(reply: Reply, number: int, kind: str, **fields: Any) -> bytes:
        return sse({"type": kind, "sequence_number": number, **fields}, kind)


class OllamaDialect(Dialect):
    name = "ollama"
    stream_content_type = "application/x-ndjson"
    chat_required = ("model",)
    _ERRORS: ClassVar[dict[str, tuple[int, str]]] = {
        "rate-limit": (429, "too many requests, please retry later"),
        "quota": (402, "you have reached your usage limit, upgrade for higher limits"),
        "error-500": (500, "an error was encountered while running the model"),
        "overloaded": (503, "server busy, please try again.  maximum pending requests exceeded"),
        "unauthorized": (401, "unauthorized"),
        "forbidden": (403, "forbidden"),
        "context": (400, "the input length exceeds the context length"),
        "bad-request": (400, "invalid request body"),
    }

    def api_key(self, request: web.Request) -> str | None:
        return bearer(request)

    def conversation(self, body: JSON) -> tuple[list[str], str]:
        messages = body.get("messages") or []
        return [text_of(m.get("content")) for m in messages], last_user_text(messages)

    def chat_json(self, reply: Reply) -> JSON:
        return {**self._message(reply, reply.answer, done=True), **self._done(reply)}

    def stream_piece(self, reply: Reply, index: int) -> bytes:
        return orjson.dumps(self._message(reply, reply.pieces[index], done=False)) + b"\n"

    def stream_tail(self, reply: Reply) -> bytes:
        return orjson.dumps({**self._message(reply, "", done=True), **self._done(reply)}) + b"\n"

    def stream_error(self) -> bytes:
        return orjson.dumps(self.error("error-500", 0)[1]) + b"\n"

    def error(self, kind: str, retry_after: float, message: str | None = None) -> tuple[int, JSON]:
        status, text = self._ERRORS[kind]
        return status, {"error": message or text}

    def embed_json(self, model: str, texts: list[str]) -> JSON:
        tokens = sum(count_words(text) for text in texts)
        vectors = [embedding_for(text) for text in texts]
        return {"model": model, "embeddings": vectors, "total_duration": 1_000_000, "load_duration": 100_000, "prompt_eval_count": tokens}

    def models_json(self, models: list[str], query: dict[str, str]) -> JSON:
        """`GET /api/tags`: every local model, with its details."""

        def describe(model: str) -> JSON:
            digest = hashlib.sha256(model.encode()).hexdigest()
            family = "nomic-bert" if "embed" in model else "llama"
            details = {"parent_model": "", "format": "gguf", "family": family, "families": [family], "parameter_size": "3.2B",
                       "quantization_level": "Q4_K_M"}
            return {"name": model, "model": model, "modified_at": "2025-01-01T00:00:00Z", "size": 1_000_000, "digest": digest,
                    "details": details}

        return {"models": [describe(model) for model in models]}

    @staticmethod
    def _message(reply: Reply, text: str, done: bool) -> JSON:
        return {"model": reply.model, "created_at": now_iso(), "message": {"role": "assistant", "content": text}, "done": done}

    @staticmethod
    def _done(reply: Reply) -> JSON:
        """Final-object counters; durations are fake but consistent (nanoseconds)."""
        prompt_ns, eval_ns = reply.prompt_tokens * 1_000_000, reply.completion_tokens * 10_000_000
        return {
            "done_reason": "stop",
            "total_duration": 100_000 + prompt_ns + eval_ns,
            "load_duration": 100_000,
            "prompt_eval_count": reply.prompt_tokens,
            "prompt_eval_duration": prompt_ns,
            "eval_count": reply.completion_tokens,
            "eval_duration": eval_ns,
        }


OPENAI, ANTHROPIC, GEMINI, OLLAMA = OpenAIDialect(), AnthropicDialect(), GeminiDialect(), OllamaDialect()
RESPONSES, COMPLETIONS = ResponsesDialect(), CompletionsDialect()
GEMINI_ACTIONS = {
    "generateContent": "chat",
    "streamGenerateContent": "chat",
    "embedContent": "embed",
    "batchEmbedContents": "embed",
}


# --- the server ------------------------------------------------------------------------------


@dataclass(slots=True)
class Admitted:
    """A request that passed the key's failure behaviours and body checks."""

    body: JSON
    behaviour: Behaviour

    async def pause(self) -> None:
        if self.behaviour.name == "slow":
            await asyncio.sleep(self.behaviour.seconds(DEFAULT_SLOW_SECONDS))


def json_response(data: JSON, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, headers=headers, content_type="application/json")


class Emulator:
    """Request log, per-key state and the route handlers."""

    def __init__(self) -> None:
        self._log: list[JSON] = []
        self._limited_once: set[str] = set()
        self._closing = asyncio.Event()

    # state

    def recorded(self) -> list[JSON]:
        return list(self._log)

    def reset(self) -> None:
        """Forget recorded requests and which `rate-limit-once` keys were already limited."""
        self._log.clear()
        self._limited_once.clear()

    def close(self) -> None:
        """Release `hang` requests (called on the server's loop before shutdown)."""
        self._closing.set()

    def app(self) -> web.Application:
        from tests.emulator_clouds import CloudEndpoints  # it builds on this module's dialects
        from tests.emulator_media import MediaEndpoints

        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.add_routes(
            [
                web.post("/v1/chat/completions", self.openai_chat),
                web.post("/v1/embeddings", self.openai_embeddings),
                web.post("/v1/responses", self.openai_responses),
                web.post("/v1/completions", self.openai_completions),
                web.get("/{version:v1|v1beta}/models", self.list_models),
                web.post("/v1/messages", self.anthropic_messages),
                web.post("/v1/messages/count_tokens", self.anthropic_count_tokens),
                web.post("/{version:v1|v1beta}/models/{target}", self.gemini),
                web.post("/api/chat", self.ollama_chat),
                web.post("/api/embed", self.ollama_embed),
                web.get("/api/tags", self.ollama_tags),
                web.get("/_emulator/requests", self.get_requests),
                web.delete("/_emulator/requests", self.delete_requests),
                *CloudEndpoints(self).routes(),
                *MediaEndpoints(self).routes(),
                web.route("*", "/{tail:.*}", self.unknown),
            ]
        )
        return app

    # route handlers

    async def openai_chat(self, request: web.Request) -> web.StreamResponse:
        return await self._chat(request, OPENAI, stream=lambda body: body.get("stream") is True)

    async def openai_responses(self, request: web.Request) -> web.StreamResponse:
        return await self._chat(request, RESPONSES, stream=lambda body: body.get("stream") is True)

    async def openai_completions(self, request: web.Request) -> web.StreamResponse:
        return await self._chat(request, COMPLETIONS, stream=lambda body: body.get("stream") is True)

    async def anthropic_messages(self, request: web.Request) -> web.StreamResponse:
        return await self._chat(request, ANTHROPIC, stream=lambda body: body.get("stream") is True)

    async def anthropic_count_tokens(self, request: web.Request) -> web.StreamResponse:
        admitted = await self._admit(request, ANTHROPIC, ("model", "messages"))
        if not isinstance(admitted, Admitted):
            return admitted
        await admitted.pause()
        return json_response(ANTHROPIC.count_json(admitted.body))

    async def ollama_chat(self, request: web.Request) -> web.StreamResponse:
        return await self._chat(request, OLLAMA, stream=lambda body: body.get("stream") is not False)

    async def openai_embeddings(self, request: web.Request) -> web.StreamResponse:
        admitted = await self._admit(request, OPENAI, ("model", "input"))
        if not isinstance(admitted, Admitted):
            return admitted
        await admitted.pause()
        body = admitted.body
        return json_response(OPENAI.embed_json(body["model"], as_texts(body["input"]), body.get("encoding_format") or "float"))

    async def ollama_embed(self, request: web.Request) -> web.StreamResponse:
        admitted = await self._admit(request, OLLAMA, ("model", "input"))
        if not isinstance(admitted, Admitted):
            return admitted
        await admitted.pause()
        return json_response(OLLAMA.embed_json(admitted.body["model"], as_texts(admitted.body["input"])))

    async def list_models(self, request: web.Request) -> web.StreamResponse:
        return await self._models(request, self._models_dialect(request))

    async def ollama_tags(self, request: web.Request) -> web.StreamResponse:
        return await self._models(request, OLLAMA)

    async def gemini(self, request: web.Request) -> web.StreamResponse:
        model, _, action = request.match_info["target"].rpartition(":")
        kind = GEMINI_ACTIONS.get(action)
        if kind is None:
            return await self.unknown(request)
        if kind == "chat":
            return await self._chat(request, GEMINI, stream=lambda _: action == "streamGenerateContent", model=model)
        admitted = await self._admit(request, GEMINI, ("content",) if action == "embedContent" else ("requests",), model=model)
        if not isinstance(admitted, Admitted):
            return admitted
        await admitted.pause()
        return json_response(GEMINI.embed_json(model, GEMINI.embed_texts(admitted.body, action), action))

    async def get_requests(self, request: web.Request) -> web.StreamResponse:
        return json_response({"requests": self.recorded()})

    async def delete_requests(self, request: web.Request) -> web.StreamResponse:
        self.reset()
        return json_response({"cleared": True})

    async def unknown(self, request: web.Request) -> web.StreamResponse:
        self._record(request, None, bearer(request), await read_json(request))
        return json_response({"error": {"message": f"emulator: no route for {request.method} {request.path}"}}, 404)

    # shared pipeline

    async def _chat(
        self, request: web.Request, dialect: Dialect, stream: Callable[[JSON], bool], model: str | None = None
    ) -> web.StreamResponse:
        admitted = await self._admit(request, dialect, dialect.chat_required, stream, model)
        if not isinstance(admitted, Admitted):
            return admitted
        reply = dialect.reply(admitted.body, model or str(admitted.body.get("model")), admitted.behaviour)
        if stream(admitted.body):
            return await self._stream(request, dialect, reply, admitted)
        await admitted.pause()
        return json_response(dialect.chat_json(reply))

    async def _models(self, request: web.Request, dialect: Dialect) -> web.StreamResponse:
        admitted = await self._admit(request, dialect, ())
        if not isinstance(admitted, Admitted):
            return admitted
        await admitted.pause()
        models = list(MODELS[dialect.name])
        if admitted.behaviour.name == "many-models":
            stem = models[0].split(":")[0]
            models += [f"{stem}-variant-{i:03d}" for i in range(int(admitted.behaviour.param or DEFAULT_EXTRA_MODELS))]
        return json_response(dialect.models_json(models, dict(request.query)))

    async def _admit(
        self,
        request: web.Request,
        dialect: Dialect,
        required: tuple[str, ...],
        stream: Callable[[JSON], bool] = lambda _: False,
        model: str | None = None,
    ) -> Admitted | web.StreamResponse:
        """Record the request, apply the model's (else the key's) failure behaviour, then check the body."""
        body = await read_json(request)
        key = dialect.api_key(request)
        self._record(request, dialect.name, key, body)
        behaviour = self._behaviour_for(key, model or (body or {}).get("model"))
        failure = await self._failure(request, dialect, behaviour, stream(body or {}))
        if failure is not None:
            return failure
        if body is None:
            return error_response(dialect, "bad-request", message="The request body is not valid JSON.")
        if missing := [name for name in required if name not in body]:
            return error_response(dialect, "bad-request", message=f"Missing required field(s): {', '.join(missing)}")
        if (refused := dialect.refusal(body, str(model or body.get("model")))) is not None:
            return error_response(dialect, "bad-request", message=refused)
        if behaviour.name == "context-limit" and prompt_words(dialect, body) > behaviour.seconds(DEFAULT_CONTEXT_WORDS):
            return error_response(dialect, "context")
        return Admitted(body, behaviour)

    def _behaviour_for(self, key: str | None, model: object) -> Behaviour:
        """The model name's `@behaviour` suffix if it has one, else the key's."""
        named = model_behaviour(model)
        behaviour = named or parse_behaviour(key)
        if behaviour.name != "rate-limit-once":
            return behaviour
        once = f"{key}|{model}" if named else str(key)
        if once in self._limited_once:
            return OK
        self._limited_once.add(once)
        return Behaviour("rate-limit", behaviour.param)

    async def _failure(self, request: web.Request, dialect: Dialect, behaviour: Behaviour, stream: bool) -> web.StreamResponse | None:
        name = behaviour.name
        if name in ("rate-limit", "rate-limit-date"):
            return rate_limit_response(dialect, behaviour)
        if name in ERROR_KINDS:
            return error_response(dialect, name)
        if name == "stream-error" and not stream:
            return error_response(dialect, "overloaded")
        if name == "reset" or (name == "break-stream" and not stream):
            return reset_connection(request)
        if name == "hang":
            await self._closing.wait()
            return reset_connection(request)
        return None

    async def _stream(self, request: web.Request, dialect: Dialect, reply: Reply, admitted: Admitted) -> web.StreamResponse:
        """Send one frame per word, all in a single write unless `slow` or `drip` holds the words back.

        Coalescing keeps the emulator cheap under benchmark load; clients still parse one event
        (or NDJSON line) per word.
        """
        response = web.StreamResponse(headers={"Content-Type": dialect.stream_content_type, "Cache-Control": "no-cache"})
        await response.prepare(request)
        name = admitted.behaviour.name
        failing = name in ("break-stream", "stream-error")
        count = min(len(reply.pieces), STREAM_FAILURE_AFTER) if failing else len(reply.pieces)
        frames = [dialect.stream_head(reply), *(dialect.stream_piece(reply, index) for index in range(count))]
        if name == "slow":
            await response.write(frames.pop(0))
            await admitted.pause()
        if name == "drip":
            frames[:2] = [b"".join(frames[:2])]  # the head goes out with the first word, at once
            for frame in frames:
                await response.write(frame)
                await asyncio.sleep(admitted.behaviour.seconds(DEFAULT_DRIP_SECONDS))
            frames = []
        if name == "break-stream":
            await response.write(b"".join(frames))
            return cut_stream(request, response)
        frames.append(dialect.stream_error() if failing else dialect.stream_tail(reply))
        await response.write_eof(b"".join(frames))
        return response

    def _record(self, request: web.Request, provider: str | None, key: str | None, body: JSON | None) -> None:
        headers = {name.lower(): value for name, value in request.headers.items()}
        for name in SECRET_HEADERS.intersection(headers):
            headers[name] = REDACTED
        query = {name: REDACTED if name == "key" else value for name, value in request.query.items()}
        entry = {
            "time": time.time(),
            "method": request.method,
            "path": request.path,
            "query": query,
            "provider": provider,
            "key": key,
            "headers": headers,
            "body": body,
        }
        self._log.append(entry)
        if len(self._log) > RECORD_LIMIT:
            del self._log[: RECORD_LIMIT // 2]

    @staticmethod
    def _models_dialect(request: web.Request) -> Dialect:
        """`GET /v1/models` is shared by OpenAI, Anthropic and Gemini: tell them apart by their headers."""
        headers = request.headers
        if request.match_info["version"] == "v1beta" or "x-goog-api-key" in headers or "key" in request.query:
            return GEMINI
        if "anthropic-version" in headers or "x-api-key" in headers:
            return ANTHROPIC
        return OPENAI


CLAUDE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def claude_refusal(body: JSON) -> str | None:
    """What current Claude models refuse (their messages, checked against the API in Dec 2026): sampling
    with both ``temperature`` and ``top_p``, a thinking budget not below ``max_tokens``, a whitespace-only
    stop sequence, an image media type outside the four they take (``image/jpg`` included), a message
    with empty content."""
    if body.get("temperature") is not None and body.get("top_p") is not None:
        return "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
    budget = (body.get("thinking") or {}).get("budget_tokens")
    if budget is not None and not budget < body.get("max_tokens", 0):
        return "`max_tokens` must be greater than `thinking.budget_tokens`."
    if any(isinstance(stop, str) and not stop.strip() for stop in body.get("stop_sequences") or ()):
        return "stop_sequences: each stop sequence must contain non-whitespace"
    for number, message in enumerate(body.get("messages") or ()):
        content = message.get("content") if isinstance(message, dict) else None
        if content in ("", []) or content is None:
            return f"messages.{number}: all messages must have non-empty content except for the optional final assistant message"
        for block in content if isinstance(content, list) else ():
            media_type = (block.get("source") or {}).get("media_type") if isinstance(block, dict) else None
            if media_type is not None and block.get("type") == "image" and media_type not in CLAUDE_MEDIA_TYPES:
                allowed = ", ".join(f"'{kind}'" for kind in CLAUDE_MEDIA_TYPES)
                return f"messages.{number}.content.image.source.base64.media_type: Input should be {allowed}"
    return None


def prompt_words(dialect: Dialect, body: JSON) -> int:
    """The prompt's length as the emulator counts tokens: whitespace words of every message text."""
    return sum(count_words(text) for text in dialect.conversation(body)[0])


def page_size(text: str | None, provider: str) -> int:
    """A requested page size, clamped to the provider's range; its default when none (or nonsense) is given."""
    default, most = PAGE_LIMITS[provider]
    try:
        return min(max(int(text or default), 1), most)
    except ValueError:
        return default


async def read_json(request: web.Request) -> JSON | None:
    """The parsed JSON object body; `{}` when empty, None when it is not a JSON object."""
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def error_response(
    dialect: Dialect, kind: str, headers: dict[str, str] | None = None, message: str | None = None, retry_after: float = 0
) -> web.Response:
    status, body = dialect.error(kind, retry_after, message)
    return json_response(body, status, headers)


def rate_limit_response(dialect: Dialect, behaviour: Behaviour) -> web.Response:
    seconds = behaviour.seconds(DEFAULT_RETRY_AFTER)
    if behaviour.name == "rate-limit-date":
        retry_after = email.utils.formatdate(math.ceil(time.time() + seconds), usegmt=True)
    else:
        retry_after = str(math.ceil(seconds))
    return error_response(dialect, "rate-limit", {"Retry-After": retry_after}, retry_after=seconds)


def reset_connection(request: web.Request) -> web.Response:
    """Drop the connection with a TCP RST and no answer (aiohttp writes nothing to an aborted transport)."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=500)


def cut_stream(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """End a started stream without its terminating chunk: the client sees an incomplete body."""
    if request.transport is not None:
        request.transport.close()
    return response


# --- running it ------------------------------------------------------------------------------


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


@dataclass
class EmulatorHandle:
    """A running emulator in a background thread."""

    url: str
    emulator: Emulator
    _loop: asyncio.AbstractEventLoop
    _runner: web.AppRunner
    _thread: threading.Thread

    def requests(self) -> list[JSON]:
        return self.emulator.recorded()

    def reset(self) -> None:
        self.emulator.reset()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self.emulator.close)
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def make_runner(emulator: Emulator) -> web.AppRunner:
    return web.AppRunner(emulator.app(), access_log=None, handler_cancellation=True, shutdown_timeout=1.0)


def start_emulator(port: int = 0, host: str = "127.0.0.1") -> EmulatorHandle:
    """Serve the emulator on its own event loop in a daemon thread; `port=0` picks a free port."""
    emulator = Emulator()
    loop = new_event_loop()
    started: concurrent.futures.Future[tuple[web.AppRunner, int]] = concurrent.futures.Future()

    async def start() -> tuple[web.AppRunner, int]:
        runner = make_runner(emulator)
        await runner.setup()
        await web.TCPSite(runner, host, port, backlog=2048).start()
        return runner, runner.addresses[0][1]

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            started.set_result(loop.run_until_complete(start()))
        except BaseException as exc:
            started.set_exception(exc)
            return
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=serve, name="upstream-emulator", daemon=True)
    thread.start()
    runner, bound_port = started.result(timeout=10)
    return EmulatorHandle(f"http://{host}:{bound_port}", emulator, loop, runner, thread)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    web.run_app(
        Emulator().app(),
        host=args.host,
        port=args.port,
        access_log=None,
        handler_cancellation=True,
        shutdown_timeout=1.0,
        backlog=2048,
        loop=new_event_loop(),
    )


if __name__ == "__main__":
    main()

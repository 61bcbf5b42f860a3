"""Anthropic's Messages API inbound: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``.

Routes to an ``anthropic`` provider are relayed natively (the client's ``anthropic-version`` and
``anthropic-beta`` headers go along; thinking blocks, signatures, ``cache_control``, server tools
and betas pass untouched). Every other route is translated to a chat body and back:

* ``system`` (a string or text blocks) → a system message; ``cache_control`` is dropped;
* user content: text and images (base64 → a data URL, url → the URL); each ``tool_result`` block →
  a ``tool`` message ahead of the rest of its turn; assistant ``tool_use`` → ``tool_calls``; the
  model's own earlier ``thinking`` blocks are left out (another model cannot read their signature);
* ``tools`` (custom tools) → function tools; ``tool_choice`` auto / any / tool / none →
  ``auto`` / ``required`` / a named function / ``none``, ``disable_parallel_tool_use`` →
  ``parallel_tool_calls: false``; server tools and document blocks are refused (400) off Anthropic;
* ``max_tokens`` (``max_completion_tokens`` for OpenAI), ``temperature``, ``top_p``,
  ``stop_sequences`` → ``stop``, ``metadata.user_id`` → ``user``; ``thinking`` with a budget →
  ``reasoning_effort`` for OpenAI and Gemini routes (under 4k tokens low, under 16k medium, else
  high); ``system`` messages between turns (Claude Code sends them) stay system messages;
* answers: text and ``tool_use`` blocks, ``stop_reason`` from the finish reason (stop → end_turn,
  length → max_tokens, tool_calls → tool_use, content_filter → refusal), usage with cached tokens
  as ``cache_read_input_tokens``.

``count_tokens`` relays to Anthropic routes; on any other route it is answered here without a
call: an estimate of a quarter token per character of every text in the translated request
(messages, and the tool definitions as JSON), the gateway's estimate wherever an upstream reports
no usage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from services.errors import GatewayError
from services.gateway.adapters.anthropic import ANTHROPIC_VERSION
from services.gateway.adapters.base import Json, Target
from services.gateway.adapters.shapes import dump_arguments, new_id, parse_arguments, prompt_chars
from services.gateway.adapters.wire import JSON_CONTENT_TYPE
from services.gateway.dialects.anthropic_stream import (
    STOP_REASONS,
    AnthropicStreamTranslator,
    AnthropicWatcher,
    anthropic_usage,
    native_tokens,
)
from services.gateway.dialects.base import InboundDialect, sse_event
from services.gateway.token_count import estimate_tokens

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}
RETRIED_STATUSES = frozenset({408, 409, 429})
CUSTOM_TOOL_TYPES = (None, "custom")
SKIPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})
EFFORT_KINDS = frozenset({"openai", "gemini"})


def _refuse(message: str, param: str) -> GatewayError:
    return GatewayError(400, "invalid_request", message, param=param)


def _text_chars(content: Any) -> int:
    """The characters of a content's texts: a string, or text (and tool result) blocks."""
    if isinstance(content, str):
        return len(content)
    if not isinstance(content, list):
        return 0
    total = 0
    for block in content:
        if isinstance(block, dict):
            text = block.get("text")
            total += len(text) if isinstance(text, str) else _text_chars(block.get("content"))
    return total


def _system_text(system: Any) -> str:
    if isinstance(system, str):
        return system
    return "\n\n".join(block.get("text", "") for block in system or () if isinstance(block, dict) and block.get("type") == "text")


def _image_part(source: Json) -> Json:
    kind = source.get("type")
    if kind == "base64":
        url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    elif kind == "url":
        url = source.get("url", "")
    else:
        raise _refuse(f"Image source `{kind}` works only on routes to Anthropic.", "messages")
    return {"type": "image_url", "image_url": {"url": url}}


def _tool_result_text(block: Json) -> str:
    content = block.get("content")
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or () if isinstance(part, dict) and part.get("type") == "text")


def _user_messages(content: Any) -> list[Json]:
    """A user turn: its tool results as ``tool`` messages first, then the rest as one user message."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    messages: list[Json] = []
    parts: list[Json] = []
    for block in content or ():
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            parts.append({"type": "text", "text": block.get("text", "")})
        elif kind == "image":
            parts.append(_image_part(block.get("source") or {}))
        elif kind == "tool_result":
            messages.append({"role": "tool", "tool_call_id": block.get("tool_use_id", ""), "content": _tool_result_text(block)})
        elif kind not in SKIPPED_BLOCKS:
            raise _refuse(f"Content blocks of type `{kind}` work only on routes to Anthropic.", "messages")
    if parts:
        messages.append({"role": "user", "content": parts})
    return messages


def _assistant_message(content: Any) -> Json:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    calls: list[Json] = []
    for block in content or ():
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "tool_use":
            function = {"name": block.get("name", ""), "arguments": dump_arguments(block.get("input"))}
            calls.append({"id": block.get("id", ""), "type": "function", "function": function})
        elif kind not in SKIPPED_BLOCKS:
            raise _refuse(f"Content blocks of type `{kind}` work only on routes to Anthropic.", "messages")
    message: Json = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return message


def _tool(tool: Json) -> Json:
    if tool.get("type") not in CUSTOM_TOOL_TYPES:
        raise _refuse(f"The tool type `{tool.get('type')}` works only on routes to Anthropic.", "tools")
    function: Json = {"name": tool.get("name", ""), "parameters": tool.get("input_schema") or {"type": "object", "properties": {}}}
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _tool_choice(choice: Json, chat: Json) -> None:
    kind = choice.get("type")
    if kind == "any":
        chat["tool_choice"] = "required"
    elif kind == "tool":
        chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name", "")}}
    elif kind in ("auto", "none"):
        chat["tool_choice"] = kind
    if choice.get("disable_parallel_tool_use") and kind != "none":
        chat["parallel_tool_calls"] = False


def _effort(thinking: Any) -> str | None:
    """An explicit thinking budget as a reasoning effort. ``adaptive`` thinking (Claude Code sends it on
    every call) is left to the model: OpenAI refuses ``reasoning_effort`` for models that do not reason."""
    budget = thinking.get("budget_tokens") if isinstance(thinking, dict) and thinking.get("type") == "enabled" else None
    if not isinstance(budget, int):
        return None
    return "low" if budget < 4096 else "medium" if budget < 16384 else "high"


class AnthropicMessages(InboundDialect):
    endpoint = "messages"
    native_kind = "anthropic"
    native_path = "/v1/messages"
    forwarded_headers = frozenset({"anthropic-version", "anthropic-beta"})
    needs_max_tokens = True

    def validate(self, body: Any) -> str:
        if not isinstance(body, dict):
            raise _refuse("The request body must be a JSON object.", "")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise _refuse("model: Field required", "model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
            raise _refuse("messages: a list of objects with a `role`", "messages")
        if self.needs_max_tokens and (not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1):
            raise _refuse("max_tokens: Field required (a positive integer)", "max_tokens")
        if "stream" in body and not isinstance(body["stream"], bool):
            raise _refuse("stream: Input should be a valid boolean", "stream")
        return model

    def prompt_chars(self, body: Json) -> int:
        return _text_chars(body.get("system")) + sum(_text_chars(m.get("content")) for m in body.get("messages") or ())

    def to_chat(self, body: Json, kind: str) -> Json:
        messages: list[Json] = []
        if system := _system_text(body.get("system")):
            messages.append({"role": "system", "content": system})
        for message in body.get("messages") or ():
            role = message.get("role")
            if role == "assistant":
                messages.append(_assistant_message(message.get("content")))
            elif role == "system":  # Claude Code sends these between turns too
                messages.append({"role": "system", "content": _system_text(message.get("content"))})
            else:
                messages += _user_messages(message.get("content"))
        chat: Json = {"model": body["model"], "messages": messages}
        if isinstance(body.get("max_tokens"), int):
            chat["max_completion_tokens" if kind == "openai" else "max_tokens"] = body["max_tokens"]
        for name in ("temperature", "top_p"):
            if body.get(name) is not None:
                chat[name] = body[name]
        if stop := body.get("stop_sequences"):
            chat["stop"] = stop
        if tools := body.get("tools"):
            chat["tools"] = [_tool(tool) for tool in tools if isinstance(tool, dict)]
        if isinstance(body.get("tool_choice"), dict):
            _tool_choice(body["tool_choice"], chat)
        if kind in EFFORT_KINDS and (effort := _effort(body.get("thinking"))):
            chat["reasoning_effort"] = effort
        metadata = body.get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
            chat["user"] = metadata["user_id"]
        return chat

    def from_chat(self, answer: Json, model: str) -> Json:
        choices = answer.get("choices") or [{}]
        message = choices[0].get("message") or {}
        content: list[Json] = []
        if message.get("content"):
            content.append({"type": "text", "text": message["content"]})
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            content.append({"type": "tool_use", "id": call.get("id") or new_id("toolu_"), "name": function.get("name", ""),
                            "input": parse_arguments(function.get("arguments"))})
        return {
            "id": f"msg_{answer.get('id') or new_id('')}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": STOP_REASONS.get(choices[0].get("finish_reason") or "stop", "end_turn"),
            "stop_sequence": None,
            "usage": anthropic_usage(answer.get("usage") or {}),
        }

    def stream_translator(self, model: str, body: Json) -> AnthropicStreamTranslator:
        return AnthropicStreamTranslator(model, estimate_tokens(self.prompt_chars(body)))

    def native_request(self, target: Target, headers: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        upstream = {"content-type": JSON_CONTENT_TYPE, "x-api-key": target.api_key,
                    "anthropic-version": headers.get("anthropic-version") or ANTHROPIC_VERSION}
        if beta := headers.get("anthropic-beta"):
            upstream["anthropic-beta"] = beta
        return f"{target.base_url}{self.native_path}", target.with_headers(upstream)

    def native_usage(self, answer: Json) -> tuple[int, int]:
        return native_tokens(answer.get("usage") or {})

    def native_watcher(self, secret: str) -> AnthropicWatcher:
        return AnthropicWatcher(secret)

    def error_status_and_body(self, error: GatewayError) -> tuple[int, Json]:
        kind = ERROR_TYPES.get(error.status, "api_error" if error.status >= 500 else "invalid_request_error")
        return error.status, {"type": "error", "error": {"type": kind, "message": error.message}}

    def error_headers(self, error: GatewayError) -> dict[str, str]:
        """``x-should-retry: false`` on a refusal that a retry cannot change, as Anthropic sends it: the
        official SDKs read it before their own rules, and Claude Code otherwise retries a 401 ten times."""
        return {} if error.status in RETRIED_STATUSES or error.status >= 500 else {"x-should-retry": "false"}

    def stream_error(self, error: GatewayError) -> bytes:
        return sse_event("error", self.error_status_and_body(error)[1])


class AnthropicTokenCount(AnthropicMessages):
    """``POST /v1/messages/count_tokens``: the same body (no ``max_tokens``), answered ``{"input_tokens": N}``."""

    endpoint = "count_tokens"
    native_path = "/v1/messages/count_tokens"
    needs_max_tokens = False
    answers_locally = True

    def validate(self, body: Any) -> str:
        model = super().validate(body)
        if body.get("stream"):
            raise _refuse("stream: count_tokens does not stream", "stream")
        return model

    def local_answer(self, chat_body: Json) -> Json | None:
        tools = orjson.dumps(chat_body["tools"]) if chat_body.get("tools") else b""
        return {"input_tokens": estimate_tokens(prompt_chars(chat_body) + len(tools))}

    def native_usage(self, answer: Json) -> tuple[int, int]:
        return 0, 0  # counting is free: the call is recorded, its tokens are not billed


ANTHROPIC_MESSAGES = AnthropicMessages()
ANTHROPIC_TOKEN_COUNT = AnthropicTokenCount()

"""OpenAI's Responses API inbound: ``POST /v1/responses``.

Routes to an ``openai`` provider are relayed natively (built-in tools, reasoning items, every field
passes untouched). Every other route is translated to a chat body and back:

* ``instructions`` → a system message; ``input`` as text → one user message; as items: messages
  (``input_text`` / ``output_text`` / ``input_image`` parts) → chat messages, ``function_call`` →
  the assistant's ``tool_calls`` (neighbouring calls in one message), ``function_call_output`` →
  a ``tool`` message; ``reasoning`` items are left out (another model cannot read them);
* function ``tools`` → chat function tools, ``tool_choice`` alike; a ``namespace`` of tools (Codex
  groups some so) → its functions, named ``<namespace>__ns__<name>`` on the way and split back into
  ``namespace`` and ``name`` in the answer; built-in tools (``web_search``, ``file_search``, …) go on
  as they are, for ``services.gateway.parameters`` to refuse (400 ``unsupported_parameter``) or, on a
  model marked ``drop_params``, drop;
* ``text.format`` ``json_schema`` / ``json_object`` → ``response_format``; ``max_output_tokens`` →
  ``max_tokens``; ``reasoning.effort`` → ``reasoning_effort``; ``temperature``, ``top_p``,
  ``parallel_tool_calls``, ``user`` as they are;
* the answer: a ``message`` item for the text, a ``function_call`` item per tool call, usage as
  ``input_tokens`` / ``output_tokens`` (``responses_stream``).

``store`` and ``previous_response_id`` are the hub's (``services.gateway.stored_responses``): a
request that continues a stored response reaches this dialect with that conversation already
spelled out in its ``input``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.errors import GatewayError
from services.gateway.adapters.base import Json, Target
from services.gateway.dialects.base import InboundDialect, sse_event
from services.gateway.dialects.responses_stream import NAMESPACE_MARK, ResponsesStreamTranslator, ResponsesWatcher, response_from_chat

TEXT_PARTS = frozenset({"input_text", "output_text", "text"})
SKIPPED_ITEMS = frozenset({"reasoning"})


def _refuse(message: str, param: str | None) -> GatewayError:
    return GatewayError(400, "invalid_request_error" if param is None else "invalid_value", message, param=param)


def input_items(body: Json) -> list[Json]:
    """A request's ``input`` as items: text is one user message."""
    given = body.get("input")
    if isinstance(given, str):
        return [{"type": "message", "role": "user", "content": given}]
    return [item for item in given if isinstance(item, dict)] if isinstance(given, list) else []


def _chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    return sum(len(part.get("text") or "") for part in content or () if isinstance(part, dict))


def _parts(content: Any) -> list[Json]:
    """A message item's content as chat parts: text and images."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    parts: list[Json] = []
    for part in content or ():
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in TEXT_PARTS:
            parts.append({"type": "text", "text": part.get("text") or ""})
        elif kind == "input_image" and part.get("image_url"):
            parts.append({"type": "image_url", "image_url": {"url": part["image_url"], "detail": part.get("detail") or "auto"}})
        else:
            raise _refuse(f"Input content of type `{kind}` works only on routes to OpenAI.", "input")
    return parts


def _message(item: Json) -> Json:
    role = item.get("role") or "user"
    parts = _parts(item.get("content"))
    if role == "assistant" or all(part["type"] == "text" for part in parts):
        return {"role": role, "content": "".join(part.get("text", "") for part in parts)}
    return {"role": role, "content": parts}


def _messages(body: Json) -> list[Json]:
    messages: list[Json] = []
    if isinstance(body.get("instructions"), str) and body["instructions"]:
        messages.append({"role": "system", "content": body["instructions"]})
    for item in input_items(body):
        kind = item.get("type") or "message"
        if kind == "message":
            messages.append(_message(item))
        elif kind == "function_call":
            name = item.get("name", "")
            if item.get("namespace"):
                name = f"{item['namespace']}{NAMESPACE_MARK}{name}"
            function = {"name": name, "arguments": item.get("arguments") or "{}"}
            call = {"id": item.get("call_id", ""), "type": "function", "function": function}
            previous = messages[-1] if messages else None
            if previous is not None and previous["role"] == "assistant" and previous.get("tool_calls"):
                previous["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            text = output if isinstance(output, str) else "".join(p.get("text") or "" for p in output or () if isinstance(p, dict))
            messages.append({"role": "tool", "tool_call_id": item.get("call_id", ""), "content": text})
        elif kind not in SKIPPED_ITEMS:
            raise _refuse(f"Input items of type `{kind}` work only on routes to OpenAI.", "input")
    return messages


def _tools(tool: Json) -> list[Json]:
    """A Responses tool as chat tools: a function as one, a namespace as its functions, a built-in tool as it is."""
    kind = tool.get("type")
    if kind == "namespace":
        prefix = f"{tool.get('name', '')}{NAMESPACE_MARK}"
        return [_function({**inner, "name": prefix + inner.get("name", "")}) for inner in tool.get("tools") or ()
                if isinstance(inner, dict) and inner.get("type", "function") == "function"]
    return [_function(tool)] if kind == "function" else [tool]


def _function(tool: Json) -> Json:
    function: Json = {"name": tool.get("name", ""), "parameters": tool.get("parameters") or {"type": "object", "properties": {}}}
    if tool.get("description"):
        function["description"] = tool["description"]
    if tool.get("strict") is not None:
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name", "")}}
    return choice if choice in ("auto", "none", "required") else None


def _response_format(text: Any) -> Json | None:
    text_format = text.get("format") if isinstance(text, dict) else None
    if not isinstance(text_format, dict):
        return None
    kind = text_format.get("type")
    if kind == "json_schema":
        schema = {"name": text_format.get("name") or "response", "schema": text_format.get("schema") or {}}
        if text_format.get("strict") is not None:
            schema["strict"] = text_format["strict"]
        return {"type": "json_schema", "json_schema": schema}
    return {"type": "json_object"} if kind == "json_object" else None


class OpenAIResponses(InboundDialect):
    endpoint = "responses"
    native_kind = "openai"

    def validate(self, body: Any) -> str:
        if not isinstance(body, dict):
            raise _refuse("The request body must be a JSON object.", None)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise _refuse("Missing required parameter: 'model'.", "model")
        given = body.get("input")
        if not isinstance(given, (str, list)) or not given:
            raise _refuse("`input` must be a non-empty string or list of items.", "input")
        if "stream" in body and not isinstance(body["stream"], bool):
            raise _refuse("`stream` must be a boolean.", "stream")
        return model

    def prompt_chars(self, body: Json) -> int:
        texts = sum(_chars(item.get("content")) + len(str(item.get("output") or "")) for item in input_items(body))
        return texts + len(body.get("instructions") or "")

    def to_chat(self, body: Json, kind: str) -> Json:
        chat: Json = {"model": body["model"], "messages": _messages(body)}
        if tools := body.get("tools"):
            chat["tools"] = [chat_tool for tool in tools if isinstance(tool, dict) for chat_tool in _tools(tool)]
            if (choice := _tool_choice(body.get("tool_choice"))) is not None:
                chat["tool_choice"] = choice
        if (response_format := _response_format(body.get("text"))) is not None:
            chat["response_format"] = response_format
        if isinstance(body.get("max_output_tokens"), int):
            chat["max_tokens"] = body["max_output_tokens"]
        if effort := (body.get("reasoning") or {}).get("effort"):
            chat["reasoning_effort"] = effort
        for name in ("temperature", "top_p", "parallel_tool_calls", "user"):
            if body.get(name) is not None:
                chat[name] = body[name]
        return chat

    def from_chat(self, answer: Json, model: str) -> Json:
        return response_from_chat(answer, model)

    def stream_translator(self, model: str, body: Json) -> ResponsesStreamTranslator:
        return ResponsesStreamTranslator(model)

    def native_request(self, target: Target, headers: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        return f"{target.base_url}/responses", target.bearer_headers()

    def native_usage(self, answer: Json) -> tuple[int, int]:
        usage = answer.get("usage") or {}
        return usage.get("input_tokens") or 0, usage.get("output_tokens") or 0

    def native_watcher(self, secret: str) -> ResponsesWatcher:
        return ResponsesWatcher(secret)

    def error_status_and_body(self, error: GatewayError) -> tuple[int, Json]:
        return error.status, error.body()

    def stream_error(self, error: GatewayError) -> bytes:
        """The Responses API's ``error`` event (its place in the stream is unknown here: numbered 0)."""
        return sse_event("error", {"type": "error", "code": error.code, "message": error.message, "param": error.param,
                                   "sequence_number": 0})


OPENAI_RESPONSES = OpenAIResponses()

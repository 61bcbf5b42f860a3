"""Request validation for the gateway's ``/v1`` bodies: types, ranges and sizes of every parameter the
gateway reads or forwards, checked before a call is admitted.

A bad value answers an OpenAI-shaped 400 naming the parameter (``param``), never a 500 further down
(an adapter reading ``stop: 5``, a serializer at its recursion limit) and never a call upstream that the
provider would refuse anyway. Checks are hand-written rather than a pydantic model: a chat body is read
on every call on the fast path, and only the keys a body actually has are looked at (a dict lookup
each). Every walk is iterative and visits each value once, so a body costs time linear in its size
whatever its shape; ``RequestLimits`` bounds the size (bytes, messages, nesting depth).

The rules follow OpenAI's reference for chat completions and embeddings; parameters not listed here
are passed through unchecked (providers add their own).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.errors import GatewayError
from services.gateway.reservation import DEFAULT_RESERVED_COMPLETION_TOKENS

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_MESSAGES = 100_000  # Anthropic's documented per-request limit; OpenAI's is lower in practice
DEFAULT_MAX_DEPTH = 64  # far above any real body (a JSON schema nests a few levels), far below orjson's 255


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """The sizes a gateway request may have (``LLMHUB_MAX_BODY_BYTES``, ``…_MAX_MESSAGES``, ``…_MAX_JSON_DEPTH``)."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_messages: int = DEFAULT_MAX_MESSAGES
    max_depth: int = DEFAULT_MAX_DEPTH
    reserved_completion_tokens: int = DEFAULT_RESERVED_COMPLETION_TOKENS  # a budget's hold for a call without max_tokens


Check = Callable[[Any], str | None]
"""A parameter's rule: ``None`` when the value is good, else what it must be (the message's tail)."""

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
TOOL_CHOICES = frozenset({"none", "auto", "required"})
ENCODING_FORMATS = frozenset({"float", "base64"})
MAX_STOP_SEQUENCES = 4


def invalid(param: str, message: str) -> GatewayError:
    return GatewayError(400, "invalid_value", f"Invalid value for `{param}`: {message}.", param=param)


def _is_int(value: Any) -> bool:
    return type(value) is int  # bool is an int subclass: `true` is no count


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


def count_at_least(low: int) -> Check:
    return lambda value: None if _is_int(value) and value >= low else f"must be an integer of at least {low}"


def number_between(low: float, high: float) -> Check:
    return lambda value: None if _is_number(value) and low <= value <= high else f"must be a number from {low:g} to {high:g}"


def an_integer(value: Any) -> str | None:
    return None if _is_int(value) else "must be an integer"


def of_type(kind: type, name: str) -> Check:
    return lambda value: None if isinstance(value, kind) else f"must be {name}"


def _stop(value: Any) -> str | None:
    if isinstance(value, str):
        return None
    if isinstance(value, list) and len(value) <= MAX_STOP_SEQUENCES and all(isinstance(item, str) for item in value):
        return None
    return f"must be a string or a list of at most {MAX_STOP_SEQUENCES} strings"


def _tools(value: Any) -> str | None:
    if not isinstance(value, list):
        return "must be a list of tool objects"
    for tool in value:
        if not isinstance(tool, dict) or not isinstance(tool.get("type", "function"), str):
            return "must be a list of tool objects"
        function = tool.get("function")
        named = isinstance(function, dict) and isinstance(function.get("name"), str)
        if not named and (function is not None or tool.get("type", "function") == "function"):
            return "each function tool needs a `function` object with a string `name`"
    return None


def _tool_choice(value: Any) -> str | None:
    if value in TOOL_CHOICES or isinstance(value, dict):
        return None
    return "must be `none`, `auto`, `required` or an object naming a tool"


def _typed_object(value: Any) -> str | None:
    return None if isinstance(value, dict) and isinstance(value.get("type"), str) else "must be an object with a string `type`"


def _stream_options(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "must be an object"
    return None if isinstance(value.get("include_usage", False), bool) else "`include_usage` must be a boolean"


def _embedding_input(value: Any) -> str | None:
    """A string, a list of strings, a list of token ids, or a list of token-id lists; nothing empty."""
    problem = "must be a non-empty string, list of strings, or list of token-id lists"
    if isinstance(value, str):
        return None if value else problem
    if not isinstance(value, list) or not value:
        return problem
    for item in value:
        if isinstance(item, str) or _is_int(item):
            continue
        if isinstance(item, list) and item and all(_is_int(token) for token in item):
            continue
        return problem
    return None


def _encoding_format(value: Any) -> str | None:
    return None if value in ENCODING_FORMATS else "must be `float` or `base64`"


def _nullable(check: Check) -> Check:
    """OpenAI's SDKs send ``null`` for an unset optional parameter: it means the default."""
    return lambda value: None if value is None else check(value)


SHARED_RULES: dict[str, Check] = {"user": _nullable(of_type(str, "a string"))}

CHAT_RULES: dict[str, Check] = {
    **SHARED_RULES,
    "max_tokens": _nullable(count_at_least(1)),
    "max_completion_tokens": _nullable(count_at_least(1)),
    "temperature": _nullable(number_between(0, 2)),
    "top_p": _nullable(number_between(0, 1)),
    "presence_penalty": _nullable(number_between(-2, 2)),
    "frequency_penalty": _nullable(number_between(-2, 2)),
    "n": _nullable(count_at_least(1)),
    "seed": _nullable(an_integer),
    "logprobs": _nullable(of_type(bool, "a boolean")),
    "top_logprobs": _nullable(count_at_least(0)),
    "stop": _nullable(_stop),
    "stream": _nullable(of_type(bool, "a boolean")),
    "stream_options": _nullable(_stream_options),
    "tools": _nullable(_tools),
    "tool_choice": _nullable(_tool_choice),
    "parallel_tool_calls": _nullable(of_type(bool, "a boolean")),
    "response_format": _nullable(_typed_object),
    "logit_bias": _nullable(of_type(dict, "an object")),
    "metadata": _nullable(of_type(dict, "an object")),
}

EMBEDDING_RULES: dict[str, Check] = {
    **SHARED_RULES,
    "input": _embedding_input,
    "dimensions": _nullable(count_at_least(1)),
    "encoding_format": _nullable(_encoding_format),
}


def _apply(body: dict[str, Any], rules: dict[str, Check]) -> None:
    for name, value in body.items():
        check = rules.get(name)
        if check is not None:
            problem = check(value)
            if problem is not None:
                raise invalid(name, problem)


def _model(body: Any) -> str:
    if not isinstance(body, dict):
        raise GatewayError(400, "invalid_request", "The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise GatewayError(400, "invalid_request", "`model` is required and must be a string.", param="model")
    return model


def check_depth(value: Any, max_depth: int) -> None:
    """400 when arrays and objects nest deeper than ``max_depth`` (iterative: no recursion limit to hit)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, (dict, list)):
                if depth >= max_depth:
                    raise GatewayError(400, "invalid_request", f"The body nests arrays and objects more than {max_depth} deep.")
                pending.append((child, depth + 1))


def _message_problem(message: Any) -> str | None:
    if not isinstance(message, dict):
        return "must be an object"
    if message.get("role") not in ROLES:
        return f"`role` must be one of {', '.join(sorted(ROLES))}"
    content = message.get("content")
    if content is None:
        return None if message["role"] in ("assistant", "function") else "`content` is required"
    if isinstance(content, str):
        return None
    if not isinstance(content, list) or not all(isinstance(part, dict) and isinstance(part.get("type"), str) for part in content):
        return "`content` must be a string or a list of parts with a string `type`"
    return None


def _check_messages(messages: Any, limits: RequestLimits) -> None:
    if not isinstance(messages, list) or not messages:
        raise GatewayError(400, "invalid_request", "`messages` must be a non-empty list of objects with a `role`.", param="messages")
    if len(messages) > limits.max_messages:
        raise invalid("messages", f"at most {limits.max_messages} messages are accepted, got {len(messages)}")
    for index, message in enumerate(messages):
        problem = _message_problem(message)
        if problem is not None:
            raise invalid(f"messages[{index}]", problem)


def validate_chat_body(body: Any, limits: RequestLimits) -> str:
    """The requested model name, or GatewayError 400 naming the first bad parameter."""
    model = _model(body)
    _check_messages(body.get("messages"), limits)
    _apply(body, CHAT_RULES)
    check_depth(body, limits.max_depth)
    return model


def validate_embedding_body(body: Any, limits: RequestLimits) -> str:
    """The requested model name, or GatewayError 400 naming the first bad parameter."""
    model = _model(body)
    if "input" not in body:
        raise invalid("input", "is required")
    _apply(body, EMBEDDING_RULES)
    check_depth(body, limits.max_depth)
    return model


def validate_fields(body: Any, required: tuple[str, ...], rules: dict[str, Check], limits: RequestLimits) -> str:
    """The requested model of a body checked against ``rules`` (the image and audio endpoints'), with
    ``required`` present; GatewayError 400 naming the first bad parameter otherwise."""
    model = _model(body)
    if missing := next((name for name in required if name not in body), None):
        raise invalid(missing, "is required")
    _apply(body, rules)
    check_depth(body, limits.max_depth)
    return model

"""OpenAI's legacy completions inbound: ``POST /v1/completions``.

Routes to ``openai`` and ``openai_compatible`` providers are relayed natively (``suffix``, ``echo``,
``best_of``, token-array prompts: everything passes). Other routes get the prompt as one user
message of a chat call and the answer back as ``text_completion`` choices; what a chat call cannot
express is refused with 400 ``unsupported_parameter`` naming it (``suffix``, ``echo``, ``best_of``,
several prompts or token arrays). Streams are OpenAI's ``data:`` chunks ending in ``data: [DONE]``,
with a usage chunk when ``stream_options.include_usage`` asks for one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

from services.errors import ErrorKind, GatewayError, UpstreamError
from services.gateway.adapters.base import Json, Target
from services.gateway.adapters.errors import classify_event
from services.gateway.adapters.shapes import estimated_usage, make_usage, new_id
from services.gateway.dialects.base import InboundDialect

NATIVE_KINDS = frozenset({"openai", "openai_compatible"})
CHAT_FIELDS = ("temperature", "top_p", "n", "stop", "presence_penalty", "frequency_penalty", "seed", "user", "logit_bias")
DEFAULT_MAX_TOKENS = 16  # the legacy endpoint's own default
DONE = b"data: [DONE]"


def _unsupported(param: str, why: str) -> GatewayError:
    return GatewayError(400, "unsupported_parameter", f"`{param}` {why} on this model's route (only OpenAI-format providers take it).",
                        param=param)


def _prompt_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        return prompt[0]
    raise _unsupported("prompt", "as several prompts or as token ids is not supported")


def _data(payload: Json) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


class CompletionsStreamTranslator:
    """OpenAI chat chunks → legacy completion chunks."""

    __slots__ = ("created", "id", "model", "wants_usage")

    def __init__(self, model: str, wants_usage: bool) -> None:
        self.id = new_id("cmpl-")
        self.created = int(time.time())
        self.model = model
        self.wants_usage = wants_usage

    def translate(self, chunk: Json) -> list[bytes]:
        choices = [{"text": (choice.get("delta") or {}).get("content") or "", "index": choice.get("index", 0), "logprobs": None,
                    "finish_reason": choice.get("finish_reason")} for choice in chunk.get("choices") or ()]
        return [_data(self._chunk(choices))] if choices else []

    def finish(self, usage: Json) -> list[bytes]:
        tail = [_data({**self._chunk([]), "usage": usage})] if self.wants_usage else []
        return [*tail, DONE + b"\n\n"]

    def _chunk(self, choices: list[Json]) -> Json:
        return {"id": self.id, "object": "text_completion", "created": self.created, "model": self.model, "choices": choices}


class CompletionsWatcher:
    """Reads a native completions stream: its ``[DONE]``, its usage chunk if any, an error chunk, and the
    characters of its text (for an estimate when the upstream reports no usage)."""

    __slots__ = ("chars", "finished", "secret", "usage")

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.finished = False
        self.usage: Json | None = None
        self.chars = 0

    def see(self, event: bytes) -> None:
        if event.startswith(DONE):
            self.finished = True
            return
        start = event.find(b"data:")
        if start < 0:
            return
        try:
            data = orjson.loads(event[start + 5 :])
        except orjson.JSONDecodeError:
            raise UpstreamError(ErrorKind.STREAM_BROKEN, "the upstream stream sent invalid JSON") from None
        if not isinstance(data, dict):
            return
        if data.get("error"):
            raise classify_event(data, self.secret)
        if data.get("usage"):
            self.usage = data["usage"]
        self.chars += sum(len(choice.get("text") or "") for choice in data.get("choices") or ())

    def final_usage(self, prompt_chars: int) -> Json:
        if self.usage:
            return make_usage(self.usage.get("prompt_tokens") or 0, self.usage.get("completion_tokens") or 0)
        return estimated_usage(prompt_chars, self.chars)


class OpenAICompletions(InboundDialect):
    endpoint = "completions"
    native_kind = "openai"

    def is_native(self, kind: str) -> bool:
        return kind in NATIVE_KINDS

    def validate(self, body: Any) -> str:
        if not isinstance(body, dict):
            raise GatewayError(400, "invalid_request", "The request body must be a JSON object.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise GatewayError(400, "invalid_request", "`model` is required and must be a string.", param="model")
        if not isinstance(body.get("prompt"), (str, list)):
            raise GatewayError(400, "invalid_request", "`prompt` must be a string or a list.", param="prompt")
        if "stream" in body and not isinstance(body["stream"], bool):
            raise GatewayError(400, "invalid_request", "`stream` must be a boolean.", param="stream")
        return model

    def prompt_chars(self, body: Json) -> int:
        prompt = body.get("prompt")
        return len(prompt) if isinstance(prompt, str) else sum(len(p) for p in prompt or () if isinstance(p, str))

    def to_chat(self, body: Json, kind: str) -> Json:
        if body.get("suffix"):
            raise _unsupported("suffix", "(fill in the middle) is not supported")
        if body.get("echo"):
            raise _unsupported("echo", "is not supported")
        if isinstance(body.get("best_of"), int) and body["best_of"] > 1:
            raise _unsupported("best_of", "is not supported")
        chat: Json = {"model": body["model"], "messages": [{"role": "user", "content": _prompt_text(body.get("prompt"))}]}
        chat["max_tokens"] = body["max_tokens"] if isinstance(body.get("max_tokens"), int) else DEFAULT_MAX_TOKENS
        chat.update({name: body[name] for name in CHAT_FIELDS if body.get(name) is not None})
        if body.get("logprobs") is not None:
            chat["logprobs"] = True  # refused or dropped like any unsupported parameter (services.gateway.parameters)
        return chat

    def from_chat(self, answer: Json, model: str) -> Json:
        choices = [{"text": (choice.get("message") or {}).get("content") or "", "index": choice.get("index", 0), "logprobs": None,
                    "finish_reason": choice.get("finish_reason")} for choice in answer.get("choices") or ()]
        usage = answer.get("usage") or {}
        return {"id": new_id("cmpl-"), "object": "text_completion", "created": answer.get("created") or int(time.time()),
                "model": model, "choices": choices,
                "usage": make_usage(usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0)}

    def stream_translator(self, model: str, body: Json) -> CompletionsStreamTranslator:
        return CompletionsStreamTranslator(model, bool((body.get("stream_options") or {}).get("include_usage")))

    def native_request(self, target: Target, headers: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        return f"{target.base_url}/completions", target.bearer_headers()

    def native_usage(self, answer: Json) -> tuple[int, int]:
        usage = answer.get("usage") or {}
        return usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0

    def native_watcher(self, secret: str) -> CompletionsWatcher:
        return CompletionsWatcher(secret)

    def error_status_and_body(self, error: GatewayError) -> tuple[int, Json]:
        return error.status, error.body()

    def stream_error(self, error: GatewayError) -> bytes:
        return _data(error.body())


OPENAI_COMPLETIONS = OpenAICompletions()

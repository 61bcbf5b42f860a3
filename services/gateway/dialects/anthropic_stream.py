"""Anthropic Messages streams: a chat stream translated into Messages events, and a native Messages
stream watched on its way through; plus the usage blocks both sides share.

A translated stream is ``message_start`` and ``ping``, then for each run of text or each tool call
a ``content_block_start`` … ``content_block_delta`` (``text_delta`` / ``input_json_delta``) …
``content_block_stop``, and at the end ``message_delta`` (the stop reason and usage) and
``message_stop``. Only the closing events wait for the end of the chat stream (its usage comes
last); every delta goes out as its chunk arrives.
"""

from __future__ import annotations

from services.gateway.adapters.base import Json
from services.gateway.adapters.errors import classify_event
from services.gateway.adapters.shapes import make_usage, new_id
from services.gateway.dialects.base import event_data, sse_event

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
DELTA_EVENT = b"event: content_block_delta\n"


def anthropic_usage(usage: Json) -> Json:
    """An OpenAI usage block as Anthropic's: cached prompt tokens are reported apart from ``input_tokens``."""
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return {
        "input_tokens": max(0, (usage.get("prompt_tokens") or 0) - cached),
        "output_tokens": usage.get("completion_tokens") or 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def native_tokens(usage: Json) -> tuple[int, int]:
    """Prompt and completion tokens of an Anthropic usage block: cache reads and writes are prompt tokens too."""
    cached = (usage.get("cache_read_input_tokens") or 0) + (usage.get("cache_creation_input_tokens") or 0)
    return (usage.get("input_tokens") or 0) + cached, usage.get("output_tokens") or 0


class AnthropicStreamTranslator:
    """OpenAI chat chunks → Messages stream events (framed), one chunk at a time."""

    __slots__ = ("block", "blocks", "input_estimate", "model", "open", "started", "stop_reason", "tool_blocks")

    def __init__(self, model: str, input_estimate: int) -> None:
        self.model = model
        self.input_estimate = input_estimate
        self.started = False
        self.blocks = 0  # content blocks opened so far
        self.block = -1  # the open block's index, -1 when none is open
        self.open: object = None  # what the open block is: "text", or the OpenAI index of its tool call
        self.tool_blocks: dict[int, int] = {}  # OpenAI tool call index → content block index
        self.stop_reason = "end_turn"

    def translate(self, chunk: Json) -> list[bytes]:
        events = [] if self.started else self._start(chunk)
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if content := delta.get("content"):
                if self.open != "text":
                    events += self._open({"type": "text", "text": ""}, "text")
                events.append(self._delta(self.block, {"type": "text_delta", "text": content}))
            for call in delta.get("tool_calls") or ():
                events += self._tool_delta(call)
            if reason := choice.get("finish_reason"):
                self.stop_reason = STOP_REASONS.get(reason, "end_turn")
        return events

    def finish(self, usage: Json) -> list[bytes]:
        events = [] if self.started else self._start({})
        events += self._close()
        delta = {"stop_reason": self.stop_reason, "stop_sequence": None}
        events.append(sse_event("message_delta", {"type": "message_delta", "delta": delta, "usage": anthropic_usage(usage)}))
        events.append(sse_event("message_stop", {"type": "message_stop"}))
        return events

    def _start(self, chunk: Json) -> list[bytes]:
        self.started = True
        message: Json = {
            "id": f"msg_{chunk.get('id') or new_id('')}", "type": "message", "role": "assistant", "model": self.model, "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": anthropic_usage({"prompt_tokens": self.input_estimate}),
        }
        return [sse_event("message_start", {"type": "message_start", "message": message}), sse_event("ping", {"type": "ping"})]

    def _tool_delta(self, call: Json) -> list[bytes]:
        position = call.get("index", 0)
        function = call.get("function") or {}
        events: list[bytes] = []
        if position not in self.tool_blocks:
            block: Json = {"type": "tool_use", "id": call.get("id") or new_id("toolu_"), "name": function.get("name") or "", "input": {}}
            events += self._open(block, position)
            self.tool_blocks[position] = self.block
        if arguments := function.get("arguments"):
            events.append(self._delta(self.tool_blocks[position], {"type": "input_json_delta", "partial_json": arguments}))
        return events

    def _open(self, block: Json, what: object) -> list[bytes]:
        events = self._close()
        self.block, self.open = self.blocks, what
        self.blocks += 1
        return [*events, sse_event("content_block_start", {"type": "content_block_start", "index": self.block, "content_block": block})]

    def _close(self) -> list[bytes]:
        if self.block < 0:
            return []
        event = sse_event("content_block_stop", {"type": "content_block_stop", "index": self.block})
        self.block, self.open = -1, None
        return [event]

    @staticmethod
    def _delta(index: int, delta: Json) -> bytes:
        return sse_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


class AnthropicWatcher:
    """Reads a native Messages stream's usage (``message_start``, ``message_delta``), its end
    (``message_stop``) and an ``error`` event; deltas, most of a stream, are passed over unread."""

    __slots__ = ("finished", "input", "output", "secret")

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.input = 0
        self.output = 0
        self.finished = False

    def see(self, event: bytes) -> None:
        if event.startswith(DELTA_EVENT):
            return
        data = event_data(event)
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "message_start":
            self._note((data.get("message") or {}).get("usage") or {})
        elif kind == "message_delta":
            self._note(data.get("usage") or {})
        elif kind == "message_stop":
            self.finished = True
        elif kind == "error":
            raise classify_event(data, self.secret)

    def _note(self, usage: Json) -> None:
        if usage.get("input_tokens") is not None:
            self.input = native_tokens(usage)[0]
        if usage.get("output_tokens") is not None:
            self.output = usage["output_tokens"]

    def final_usage(self, prompt_chars: int) -> Json:
        return make_usage(self.input, self.output)

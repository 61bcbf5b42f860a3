"""What one streamed answer leaves behind as its chunks pass on to the client.

Every chunk of a stream goes through a :class:`StreamTally` once, on its way out as JSON text: the
tally names the chunk after the model the client asked for, holds back the usage chunk (the client
gets it at the very end, and only when it asked for it) and keeps what metering needs: the usage,
the finish reason, the characters generated (for an estimate when the upstream reports no usage or
the stream breaks) and, when bodies are logged, the text.

The OpenAI adapter passes most events on without parsing them (``relayed``); their characters are
counted only if they are needed, and in bounded rounds so a long stream holds little memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from services.gateway.adapters.shapes import Json, estimated_usage

RELAYED_LIMIT = 256
"""Events passed on unparsed that are kept for counting before they are counted and let go."""


@dataclass(slots=True)
class StreamTally:
    model: str
    """The name every chunk carries for the client (the model it asked for)."""
    keep_text: bool = False
    usage: Json | None = None
    finish_reason: str | None = None
    chars: int = 0
    text: list[str] = field(default_factory=list)
    first: Json = field(default_factory=dict)  # id and created, for a usage chunk made here
    _usage_chunk: Json | None = None
    relayed: list[bytes] = field(default_factory=list)
    """Events passed on as the upstream wrote them, kept for counting their characters if no usage comes."""

    def take(self, chunk: Json) -> bytes | None:
        """The chunk as JSON text for the client, or None for the usage chunk (held back)."""
        choices = chunk.get("choices")
        usage = chunk.get("usage")
        if usage:
            self.usage = usage
            self.relayed.clear()  # their characters are no longer needed
            if not choices:
                self._usage_chunk = chunk
                return None
            chunk["usage"] = None
        if not self.first:
            self.first = chunk
        for choice in choices or ():
            self._count(choice.get("delta"))
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        chunk["model"] = self.model
        return orjson.dumps(chunk)

    def settle_relayed(self) -> None:
        """Once more than ``RELAYED_LIMIT`` events passed on unparsed (``relayed``) wait, count their
        characters and let them go: a long stream holds few of them."""
        if len(self.relayed) > RELAYED_LIMIT:
            self._count_relayed()

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None

    def completion_chars(self) -> int:
        self._count_relayed()
        return self.chars

    def final_usage(self, prompt_chars: int) -> Json:
        """The upstream's usage, or an estimate (``"estimated": true``) when it reported none."""
        return self.usage if self.usage is not None else estimated_usage(prompt_chars, self.completion_chars())

    def usage_chunk(self, prompt_chars: int) -> bytes:
        """The final ``choices: []`` chunk: the upstream's own, or one made here around ``final_usage``."""
        chunk = self._usage_chunk or {"id": self.first.get("id", ""), "object": "chat.completion.chunk",
                                      "created": self.first.get("created", 0), "choices": [], "usage": self.final_usage(prompt_chars)}
        chunk["model"] = self.model
        return orjson.dumps(chunk)

    def _count(self, delta: Json | None) -> None:
        if not delta:
            return
        content = delta.get("content")
        if content:
            self.chars += len(content)
            if self.keep_text:
                self.text.append(content)
        for call in delta.get("tool_calls") or ():
            self.chars += len((call.get("function") or {}).get("arguments") or "")

    def _count_relayed(self) -> None:
        for text in self.relayed:
            for choice in orjson.loads(text).get("choices") or ():
                self._count(choice.get("delta"))
        self.relayed.clear()

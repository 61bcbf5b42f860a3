"""A provider's stream translated to OpenAI chunks on its way through the tally: the streaming half
of every adapter whose provider does not speak OpenAI (Anthropic, Gemini, Ollama).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import Protocol

from services.gateway.adapters.errors import stream_ended_early
from services.gateway.adapters.shapes import Json
from services.gateway.adapters.tally import StreamTally
from services.gateway.adapters.transport import UpstreamClient
from services.gateway.adapters.wire import NdjsonFraming, SseFraming, parse_event, stream_events


class StreamTranslator(Protocol):
    """One stream's provider events → OpenAI chunks (None for an event with nothing to say)."""

    @property
    def finished(self) -> bool: ...

    def translate(self, event: Json) -> Json | None: ...

    def usage_chunk(self) -> Json: ...


def translated_stream(
    client: UpstreamClient,
    url: str,
    headers: Mapping[str, str],
    payload: Json,
    secret: str,
    translator: StreamTranslator,
    tally: StreamTally,
    framing: SseFraming | NdjsonFraming | None = None,
    read_timeout: float | None = None,
) -> AsyncGenerator[list[bytes], None]:
    """A provider stream (server-sent events unless ``framing`` says otherwise) as OpenAI chunks
    through ``tally`` (a list a read), its usage chunk left with the tally; a stream that stops
    before its finish is broken."""

    def convert(texts: list[bytes], chunks: list[bytes]) -> None:
        for text in texts:
            chunk = translator.translate(parse_event(text, secret))
            if chunk is not None and (out := tally.take(chunk)):
                chunks.append(out)

    def ended() -> None:
        if not translator.finished:
            raise stream_ended_early()
        tally.take(translator.usage_chunk())

    return stream_events(client, url, headers, payload, secret, framing or SseFraming(), convert, ended, read_timeout)

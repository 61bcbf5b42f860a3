"""OpenAI Chat Completions and every server that speaks it (``openai_compatible``).

The client's body is already in this format, so it passes through untouched except for ``model``
(the upstream name) and the streaming switches. Streams always ask for
``stream_options.include_usage`` so metering is exact; the usage chunk is moved to the very end,
and synthesized (marked ``"estimated": true``) for servers that ignore the option.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field


from services.adapters.base import Json, Target
from services.adapters.http import (
    JSON_CONTENT_TYPE,
    embedding_usage,
    estimated_usage,
    input_list,
    iter_sse,
    open_stream,
    post_json,
    stream_ended_early,
)
from services.adapters.transport import UpstreamClient


def _headers(target: Target) -> dict[str, str]:
    if not target.api_key:
        return {"content-type": JSON_CONTENT_TYPE}
    return {"content-type": JSON_CONTENT_TYPE, "authorization": f"Bearer {target.api_key}"}


@dataclass(slots=True)
class _StreamTally:
    """What a stream leaves behind as it passes: the upstream's usage chunk (held back for the end),
    usage riding on a chunk with choices, the last chunk, whether a choice finished, and the
    characters generated (for an estimate when the server reports no usage). One pass a chunk."""

    tail: Json | None = None
    usage: Json | None = None
    last: Json = field(default_factory=dict)
    finished: bool = False
    chars: int = 0

    def take(self, chunk: Json) -> Json | None:
        """The chunk to pass on, or None for the usage chunk."""
        choices = chunk.get("choices")
        if chunk.get("usage"):
            if not choices:
                self.tail = chunk
                return None
            self.usage, chunk = chunk["usage"], {**chunk, "usage": None}
        self.last = chunk
        for choice in choices or ():
            delta = choice.get("delta")
            if delta:
                self.chars += len(delta.get("content") or "")
                for call in delta.get("tool_calls") or ():
                    self.chars += len((call.get("function") or {}).get("arguments") or "")
            if choice.get("finish_reason"):
                self.finished = True
        return chunk


class OpenAIAdapter:
    async def chat(self, client: UpstreamClient, target: Target, body: Json) -> Json:
        payload = {**body, "model": target.model}
        payload.pop("stream", None)
        payload.pop("stream_options", None)
        answer: Json = await post_json(client, f"{target.base_url}/chat/completions", _headers(target), payload, target.api_key)
        if not answer.get("usage"):
            content = "".join((c.get("message") or {}).get("content") or "" for c in answer.get("choices") or ())
            answer["usage"] = estimated_usage(body, len(content))
        return answer

    async def stream_chat(self, client: UpstreamClient, target: Target, body: Json) -> AsyncIterator[list[Json]]:
        payload = {**body, "model": target.model, "stream": True}
        payload["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        tally = _StreamTally()
        async with open_stream(client, f"{target.base_url}/chat/completions", _headers(target), payload, target.api_key) as response:
            async for events in iter_sse(response, target.api_key):
                chunks = [chunk for event in events if (chunk := tally.take(event)) is not None]
                if chunks:
                    yield chunks
        if not tally.finished:
            raise stream_ended_early()
        yield [tally.tail or _usage_chunk(tally.last, tally.usage or estimated_usage(body, tally.chars))]

    async def embed(self, client: UpstreamClient, target: Target, body: Json) -> Json:
        payload = {**body, "model": target.model}
        answer: Json = await post_json(client, f"{target.base_url}/embeddings", _headers(target), payload, target.api_key)
        if not answer.get("usage"):
            answer["usage"] = embedding_usage(None, input_list(body))
        return answer


def _usage_chunk(last: Json, usage: Json) -> Json:
    """The final ``choices: []`` chunk, carrying the id and model the stream used."""
    return {
        "id": last.get("id", ""),
        "object": "chat.completion.chunk",
        "created": last.get("created", 0),
        "model": last.get("model", ""),
        "choices": [],
        "usage": usage,
    }

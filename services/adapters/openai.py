"""OpenAI Chat Completions and every server that speaks it (``openai_compatible``).

The client's body is already in this format, so it passes through untouched except for ``model``
(the upstream name) and the streaming switches. Streams always ask for
``stream_options.include_usage`` so metering is exact; the usage chunk is moved to the very end,
and synthesized (marked ``"estimated": true``) for servers that ignore the option.
"""

from __future__ import annotations

from collections.abc import AsyncIterator


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


def _completion_chars(choices: list[Json] | None) -> int:
    total = 0
    for choice in choices or ():
        delta = choice.get("delta") or {}
        total += len(delta.get("content") or "")
        for call in delta.get("tool_calls") or ():
            total += len((call.get("function") or {}).get("arguments") or "")
    return total


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
        tail: Json | None = None  # the upstream's own usage chunk
        usage: Json | None = None  # usage some servers attach to a chunk that also has choices
        last: Json = {}
        finished = False
        chars = 0
        async with open_stream(client, f"{target.base_url}/chat/completions", _headers(target), payload, target.api_key) as response:
            async for events in iter_sse(response, target.api_key):
                chunks: list[Json] = []
                for chunk in events:
                    choices = chunk.get("choices")
                    if chunk.get("usage"):
                        if not choices:
                            tail = chunk
                            continue
                        usage, chunk = chunk["usage"], {**chunk, "usage": None}
                    last = chunk
                    chars += _completion_chars(choices)
                    finished = finished or any(c.get("finish_reason") for c in choices or ())
                    chunks.append(chunk)
                if chunks:
                    yield chunks
        if not finished:
            raise stream_ended_early()
        yield [tail or _usage_chunk(last, usage or estimated_usage(body, chars))]

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

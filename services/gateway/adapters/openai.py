"""OpenAI Chat Completions and every server that speaks it (``openai_compatible``).

The client's body is already in this format, so it passes through untouched except for ``model``
(the upstream name) and the streaming switches. Streams always ask for
``stream_options.include_usage`` so metering is exact; the usage chunk is left with the tally, which
puts it at the very end (or makes one, marked ``"estimated": true``, for servers that ignore the
option). Stream events go on as the upstream wrote them wherever that is safe (``_Relay``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import orjson

from services.gateway.adapters.base import Json, Target
from services.gateway.adapters.errors import stream_ended_early
from services.gateway.adapters.media import MediaRequest
from services.gateway.adapters.shapes import embedding_usage, estimated_usage, input_list, prompt_chars
from services.gateway.adapters.tally import StreamTally
from services.gateway.adapters.transport import UpstreamClient
from services.gateway.adapters.wire import SseFraming, parse_event, post_for_answer, post_json, stream_events

PLAIN_TAIL = b'"finish_reason":null}],"usage":null}'
"""How an OpenAI content chunk ends when usage was asked for (as the gateway always does): its choice
unfinished, then the top-level ``usage`` null and the object closed."""


class _Relay:
    """Passes an OpenAI stream's events on as the upstream wrote them, only the model's name changed
    in their bytes: parsing and re-encoding every event was most of a stream's cost in the gateway.

    An event goes on unparsed when its bytes show it is a plain content chunk: the upstream's model
    name (learnt from the first event) exactly once and written compactly, and no usage object
    (``"usage":{``; OpenAI puts ``"usage":null`` in every chunk but the last when usage is asked
    for, as the gateway always does), no ``"error"`` and no ``"finish_reason":"…"`` (a compact
    writer writes those compactly too).
    Quotes inside JSON strings are escaped, so none of these can hide in generated text. OpenAI's own
    content chunks end in ``PLAIN_TAIL`` (their one choice unfinished, usage null), which says as
    much in one look at the end instead of three searches through the event. Every other
    event (the first, the finishing one, usage, errors, a server that writes spaced JSON, every
    event while bodies are logged) is parsed and goes through the tally.
    """

    __slots__ = ("client_name", "secret", "tally", "upstream_name")

    def __init__(self, tally: StreamTally, secret: str) -> None:
        self.tally = tally
        self.secret = secret
        self.upstream_name = b""
        self.client_name = b'"model":' + orjson.dumps(tally.model)

    def pass_on(self, texts: list[bytes], chunks: list[bytes]) -> None:
        """Each event's JSON text for the client, in order; the usage chunk stays with the tally."""
        name, client_name, relayed = self.upstream_name, self.client_name, self.tally.relayed
        for text in texts:
            # find(), not ``in``: ``bytes in bytes`` first tries the needle as an integer and builds a TypeError.
            if name and text.count(name) == 1 and (text.endswith(PLAIN_TAIL) or (
                    text.find(b'"usage":{') < 0 and text.find(b'"error"') < 0 and text.find(b'"finish_reason":"') < 0)):
                chunks.append(text.replace(name, client_name))
                relayed.append(text)
                continue
            if (chunk := self._parsed(text)) is not None:
                chunks.append(chunk)
            name = self.upstream_name
        self.tally.settle_relayed()

    def ended(self) -> None:
        """The body ended: without a finishing chunk, the stream was cut short."""
        if not self.tally.finished:
            raise stream_ended_early()

    def _parsed(self, text: bytes) -> bytes | None:
        chunk = parse_event(text, self.secret)
        if not self.upstream_name and not self.tally.keep_text and isinstance(chunk.get("model"), str):
            self.upstream_name = b'"model":' + orjson.dumps(chunk["model"])
        return self.tally.take(chunk)


class OpenAIAdapter:
    """Calls ``{base}/chat/completions`` and ``{base}/embeddings`` with the key as a bearer token;
    ``endpoint`` and the ``*_with`` methods let a kind that speaks the same format elsewhere (Azure) reuse it.
    The image and audio endpoints (``media``) are relayed as they are, with ``auth_headers``."""

    async def auth_headers(self, client: UpstreamClient, target: Target) -> dict[str, str]:
        """The key's headers for a call the adapter does not build itself (image and audio)."""
        return target.bearer_headers()

    async def media(self, client: UpstreamClient, target: Target, request: MediaRequest) -> tuple[bytes, str]:
        """Relay an image or audio request (``path`` under the base, its body already encoded); the
        answer's bytes and content type."""
        body, content_type = request.encoded(target.model)
        headers = {**await self.auth_headers(client, target), "content-type": content_type}
        return await post_for_answer(client, self.endpoint(target, request.path), headers, body, target.api_key, target.timeout)

    def endpoint(self, target: Target, path: str) -> str:
        return f"{target.base_url}/{path}"

    async def chat(self, client: UpstreamClient, target: Target, body: Json) -> Json:
        return await self.chat_with(client, target, body, target.bearer_headers())

    def stream_chat(self, client: UpstreamClient, target: Target, body: Json, tally: StreamTally) -> AsyncGenerator[list[bytes], None]:
        return self.stream_with(client, target, body, tally, target.bearer_headers())

    async def embed(self, client: UpstreamClient, target: Target, body: Json) -> Json:
        return await self.embed_with(client, target, body, target.bearer_headers())

    async def chat_with(self, client: UpstreamClient, target: Target, body: Json, headers: dict[str, str]) -> Json:
        payload = {**body, "model": target.model}
        payload.pop("stream", None)
        payload.pop("stream_options", None)
        url = self.endpoint(target, "chat/completions")
        answer: Json = await post_json(client, url, headers, payload, target.api_key, target.timeout)
        if not answer.get("usage"):
            content = "".join((c.get("message") or {}).get("content") or "" for c in answer.get("choices") or ())
            answer["usage"] = estimated_usage(prompt_chars(body), len(content))
        return answer

    def stream_with(
        self, client: UpstreamClient, target: Target, body: Json, tally: StreamTally, headers: dict[str, str]
    ) -> AsyncGenerator[list[bytes], None]:
        payload = {**body, "model": target.model, "stream": True}
        payload["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        relay = _Relay(tally, target.api_key)
        url = self.endpoint(target, "chat/completions")
        return stream_events(client, url, headers, payload, target.api_key, SseFraming(), relay.pass_on, relay.ended, target.stream_timeout)

    async def embed_with(self, client: UpstreamClient, target: Target, body: Json, headers: dict[str, str]) -> Json:
        payload = {**body, "model": target.model}
        url = self.endpoint(target, "embeddings")
        answer: Json = await post_json(client, url, headers, payload, target.api_key, target.timeout)
        if not answer.get("usage"):
            answer["usage"] = embedding_usage(None, input_list(body))
        return answer

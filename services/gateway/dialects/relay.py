"""One attempt of a dialect call against one route: relayed natively, or translated through the
route's chat adapter. ``services.gateway.calls.Gateway`` runs these under the router (failover,
trail, wire time) and meters what they report.

A native stream goes through as the upstream wrote it: whole events, one write for each upstream
read, only watched (``NativeWatcher``) for its usage, its end and an error event. An error event
before anything reached the client is raised (so the router can fail over); later, the events
before it go out and the error is raised so the gateway ends the stream with the dialect's own
error event.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping

import orjson

from services.errors import ErrorKind, UpstreamError
from services.gateway.adapters.base import Adapter, Json, Target
from services.gateway.adapters.errors import stream_ended_early
from services.gateway.adapters.tally import StreamTally
from services.gateway.adapters.transport import UpstreamClient
from services.gateway.adapters.wire import SseEvents, parse_answer, post_bytes, stream_events
from services.gateway.dialects.base import ChunkTranslator, InboundDialect, NativeWatcher

EventBatches = AsyncGenerator[list[bytes], None]


def native_payload(body: Json, target: Target) -> Json:
    """The client's body for the provider: only the model renamed."""
    return {**body, "model": target.model}


async def relay_answer(client: UpstreamClient, target: Target, dialect: InboundDialect, body: Json,
                       headers: Mapping[str, str]) -> tuple[bytes, int, int]:
    """The provider's whole answer as it came, with its prompt and completion tokens."""
    url, upstream_headers = dialect.native_request(target, headers)
    content = await post_bytes(client, url, upstream_headers, native_payload(body, target), target.api_key, target.timeout)
    answer = parse_answer(content)
    if not isinstance(answer, dict):
        raise UpstreamError(ErrorKind.UPSTREAM_5XX, "the upstream answered with something other than a JSON object", status=200)
    prompt, completion = dialect.native_usage(answer)
    return content, prompt, completion


def relay_stream(client: UpstreamClient, target: Target, dialect: InboundDialect, body: Json, headers: Mapping[str, str],
                 watcher: NativeWatcher) -> EventBatches:
    """The provider's stream as it wrote it (whole events, one bytes a read), watched for metering."""
    url, upstream_headers = dialect.native_request(target, headers)

    def convert(events: list[bytes], out: list[bytes]) -> None:
        for index, event in enumerate(events):
            try:
                watcher.see(event)
            except UpstreamError:
                if index:
                    out.append(b"\n\n".join(events[:index]) + b"\n\n")
                raise
        if events:
            out.append(b"\n\n".join(events) + b"\n\n")

    def ended() -> None:
        if not watcher.finished:
            raise stream_ended_early()

    payload = native_payload(body, target)
    return stream_events(client, url, upstream_headers, payload, target.api_key, SseEvents(), convert, ended, target.stream_timeout)


async def translated_answer(client: UpstreamClient, adapter: Adapter, target: Target, dialect: InboundDialect, chat_body: Json,
                            model: str) -> tuple[bytes, int, int]:
    """A translated route's answer in the dialect (or the dialect's local answer, with no call at all)."""
    local = dialect.local_answer(chat_body)
    if local is not None:
        return orjson.dumps(local), 0, 0
    answer = await adapter.chat(client, target, chat_body)
    usage = answer.get("usage") or {}
    return orjson.dumps(dialect.from_chat(answer, model)), usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)


async def translated_events(chunks: AsyncGenerator[list[bytes], None], translator: ChunkTranslator, tally: StreamTally,
                            prompt_chars: int) -> EventBatches:
    """A route's chat stream as the dialect's events, a list for each upstream read that brought any;
    the closing events carry the usage the tally kept."""
    try:
        async for batch in chunks:
            events: list[bytes] = []
            for text in batch:
                events += translator.translate(orjson.loads(text))
            if events:
                yield events
        yield translator.finish(tally.final_usage(prompt_chars))
    finally:
        await chunks.aclose()

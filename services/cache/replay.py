"""A cached answer going out again, and a streamed answer being recorded for the cache.

A stream is recorded whole, as it went to the client: a chat stream's chunks (JSON texts) with its
usage chunk always last (made from the stream's tally when the client did not ask for it), a
dialect's framed events as they are. Only a stream that ended as it should is stored. On replay the
chunks go out in batches of ``REPLAY_BATCH`` in the endpoint's own framing (the response class adds
``data:`` and ``[DONE]`` for chat); the usage chunk only when this request asked for it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable

from services.cache.store import CachedAnswer
from services.gateway.calls import ChatStream, MeteredStream

Batches = AsyncGenerator[list[bytes], None]
REPLAY_BATCH = 16
"""Chunks or events handed to the response at a time: a few socket writes per answer, not one per word."""


def stored_pieces(answer: CachedAnswer, wants_usage: bool) -> list[bytes]:
    """The chunks (form ``chunks``) or framed events (form ``events``) of a recorded stream."""
    if answer.form == "events":
        return [event + b"\n\n" for event in answer.content.split(b"\n\n") if event]
    chunks = answer.content.split(b"\n")
    return chunks if wants_usage else chunks[:-1]


async def replayed(answer: CachedAnswer, wants_usage: bool) -> Batches:
    pieces = stored_pieces(answer, wants_usage)
    for start in range(0, len(pieces), REPLAY_BATCH):
        yield pieces[start : start + REPLAY_BATCH]


async def recorded(stream: MeteredStream, wants_usage: bool, keep: Callable[[bytes], None]) -> Batches:
    """The stream's batches on their way out; once it ended well, ``keep`` gets its recorded content."""
    pieces: list[bytes] = []
    batches = stream.batches()
    try:
        async for batch in batches:
            pieces += batch
            yield batch
    finally:
        await batches.aclose()
    if not stream.completed:
        return
    if isinstance(stream, ChatStream):
        if not wants_usage:
            pieces.append(stream.usage_chunk())
        keep(b"\n".join(pieces))
    else:
        keep(b"".join(pieces))

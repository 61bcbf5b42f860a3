"""A cached answer going out again, and a streamed answer being recorded for the cache.

A stream is recorded whole, as it went to the client: a chat stream's chunks (JSON texts) with its
usage chunk always last (made from the stream's tally when the client did not ask for it), a
dialect's framed events as they are. Only a stream that ended as it should is stored. On replay the
chunks go out in batches of ``REPLAY_BATCH`` in the endpoint's own framing (the response class adds
``data:`` and ``[DONE]`` for chat); the usage chunk only when this request asked for it.

A chat answer serves both forms (``replay_form``): a whole answer is replayed to a streaming client as
the chunks OpenAI would have sent (a role chunk, a word a chunk, tool calls, the finish, the usage), and a
recorded stream is put back together for a client that wants the whole answer.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Callable
from typing import Any

import orjson

from services.cache.store import CachedAnswer
from services.gateway.calls import ChatStream, MeteredStream

Batches = AsyncGenerator[list[bytes], None]
Json = dict[str, Any]
REPLAY_BATCH = 16
"""Chunks or events handed to the response at a time: a few socket writes per answer, not one per word."""


def replay_form(answer: CachedAnswer, stream: bool) -> tuple[str, bytes]:
    """The form and content a call gets: the stored ones, or for chat the other form made from them."""
    if answer.form == "json" and stream:
        return "chunks", chunks_of_answer(answer.content)
    if answer.form == "chunks" and not stream:
        return "json", answer_of_chunks(answer.content)
    return answer.form, answer.content


def stored_pieces(form: str, content: bytes, wants_usage: bool) -> list[bytes]:
    """The chunks (form ``chunks``) or framed events (form ``events``) of a recorded stream."""
    if form == "events":
        return [event + b"\n\n" for event in content.split(b"\n\n") if event]
    chunks = content.split(b"\n")
    return chunks if wants_usage else chunks[:-1]


async def replayed(form: str, content: bytes, wants_usage: bool) -> Batches:
    pieces = stored_pieces(form, content, wants_usage)
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


WORD = re.compile(r"\s*\S+\s*|\s+")


def chunks_of_answer(content: bytes) -> bytes:
    """A ``chat.completion`` as a recorded stream's content: its chunks as JSON text, one a line, usage last."""
    answer = orjson.loads(content)
    head = {"id": answer.get("id"), "object": "chat.completion.chunk", "created": answer.get("created"), "model": answer.get("model")}
    chunks: list[Json] = []
    for choice in answer.get("choices") or ():
        index, message = choice.get("index", 0), choice.get("message") or {}
        deltas: list[Json] = [{"role": "assistant", "content": ""}]
        deltas += [{"content": word} for word in WORD.findall(message.get("content") or "")]
        deltas += [{"tool_calls": [{"index": number, **call}]} for number, call in enumerate(message.get("tool_calls") or ())]
        chunks += [{**head, "choices": [{"index": index, "delta": delta, "finish_reason": None}]} for delta in deltas]
        chunks.append({**head, "choices": [{"index": index, "delta": {}, "finish_reason": choice.get("finish_reason")}]})
    chunks.append({**head, "choices": [], "usage": answer.get("usage")})
    return b"\n".join(orjson.dumps(chunk) for chunk in chunks)


def answer_of_chunks(content: bytes) -> bytes:
    """A recorded chat stream put back together as the ``chat.completion`` it stands for."""
    chunks = [orjson.loads(line) for line in content.split(b"\n")]
    choices: dict[int, Json] = {}
    for chunk in chunks:
        for choice in chunk.get("choices") or ():
            merged = choices.setdefault(choice.get("index", 0), {"text": [], "calls": {}, "finish_reason": None})
            _merge_delta(merged, choice.get("delta") or {})
            merged["finish_reason"] = choice.get("finish_reason") or merged["finish_reason"]
    first = chunks[0]
    answer = {"id": first.get("id"), "object": "chat.completion", "created": first.get("created"), "model": first.get("model"),
              "choices": [_choice(index, merged) for index, merged in sorted(choices.items())], "usage": chunks[-1].get("usage")}
    return orjson.dumps(answer)


def _merge_delta(merged: Json, delta: Json) -> None:
    if delta.get("content"):
        merged["text"].append(delta["content"])
    for call in delta.get("tool_calls") or ():
        slot = merged["calls"].setdefault(call.get("index", 0), {"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
        slot["id"] = call.get("id") or slot["id"]
        function = call.get("function") or {}
        slot["function"]["name"] += function.get("name") or ""
        slot["function"]["arguments"] += function.get("arguments") or ""


def _choice(index: int, merged: Json) -> Json:
    calls = [merged["calls"][number] for number in sorted(merged["calls"])]
    message: Json = {"role": "assistant", "content": "".join(merged["text"]) if merged["text"] or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return {"index": index, "message": message, "finish_reason": merged["finish_reason"]}

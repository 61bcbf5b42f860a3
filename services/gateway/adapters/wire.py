"""Talking to an upstream: one POST with a JSON answer, or a stream of server-sent events or
newline-delimited JSON, read off the socket and split into payloads.

Every failure comes out classified (:mod:`services.gateway.adapters.errors`).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any, TypeVar

import httpx
import orjson

from services.errors import ErrorKind, UpstreamError
from services.gateway.adapters.errors import (
    classify_event,
    classify_response,
    transport_error,
)
from services.gateway.adapters.shapes import Json
from services.gateway.adapters.transport import UpstreamClient

JSON_CONTENT_TYPE = "application/json"


async def post_bytes(
    client: UpstreamClient, url: str, headers: Mapping[str, str], payload: Json | bytes, secret: str, read_timeout: float | None = None
) -> bytes:
    """POST ``payload`` as JSON (or its JSON text already encoded, when it was signed) and return the
    successful answer's body as it came; every failure comes out classified."""
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return (await post_for_answer(client, url, headers, body, secret, read_timeout))[0]


async def post_for_answer(
    client: UpstreamClient, url: str, headers: Mapping[str, str], body: bytes, secret: str, read_timeout: float | None = None
) -> tuple[bytes, str]:
    """POST ``body`` as it is and return the successful answer's body and content type (audio, text or
    JSON alike); every failure comes out classified."""
    try:
        async with client.open(url, headers, body, read_timeout) as response:
            content = await response.aread()
    except httpx.HTTPError as exc:
        raise transport_error(exc, secret) from None
    if not response.is_success:
        raise classify_response(response.status_code, content, response.headers, secret)
    return content, response.headers.get("content-type", "application/octet-stream")


def parse_answer(content: bytes) -> Any:
    """A successful answer's JSON; invalid JSON is an upstream failure."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        raise UpstreamError(ErrorKind.UPSTREAM_5XX, "the upstream answered with invalid JSON", status=200) from None


async def post_json(
    client: UpstreamClient, url: str, headers: Mapping[str, str], payload: Json, secret: str, read_timeout: float | None = None
) -> Any:
    """POST ``payload`` as JSON and return the parsed answer; every failure comes out classified."""
    answer = parse_answer(await post_bytes(client, url, headers, payload, secret, read_timeout))
    if isinstance(answer, dict) and answer.get("error"):  # some OpenAI-compatible servers answer errors with 200
        raise classify_event(answer, secret, ErrorKind.UPSTREAM_5XX)
    return answer


def parse_event(text: bytes, secret: str) -> Any:
    """One streamed payload; an error object in it, or bad JSON, is raised as a classified UpstreamError."""
    try:
        event = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise UpstreamError(ErrorKind.STREAM_BROKEN, "the upstream stream sent invalid JSON") from None
    if isinstance(event, dict) and event.get("error"):
        raise classify_event(event, secret)
    return event


class LineBuffer:
    """A body's lines (without their ``\n``, ``\r\n`` or ``\r``), a list for each read, as soon as
    their bytes arrived.

    A list a read, not a line at a time: one read of a fast stream holds many lines. httpx's
    ``aiter_lines`` holds a line back until the next chunk shows whether a ``\r`` is followed by
    ``\n``; for a stream that is one event late (a first token that waits for the second). Here a
    chunk ending in ``\r`` releases its line at once, and a ``\n`` opening the next chunk is dropped.
    """

    __slots__ = ("after_cr", "pending")

    def __init__(self) -> None:
        self.pending = b""
        self.after_cr = False

    def split(self, chunk: bytes) -> list[bytes]:
        """The lines this read completes."""
        if self.after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
            if not chunk:
                return []
        self.after_cr = chunk.endswith(b"\r")
        lines = (self.pending + chunk).splitlines()
        self.pending = b"" if chunk.endswith((b"\n", b"\r")) else lines.pop()
        return lines

    def rest(self) -> list[bytes]:
        """The line the body ended in without a line end."""
        return [self.pending] if self.pending else []


class SseFraming:
    """Server-sent events out of lines: the ``data:`` of each event, up to its blank line."""

    def __init__(self) -> None:
        self.data: list[bytes] = []

    def texts(self, lines: list[bytes]) -> list[bytes]:
        """The payloads of the events these lines complete (``[DONE]`` skipped, ``event:`` ignored)."""
        if not self.data and _data_line_pairs(lines):  # the usual read, sorted out by C loops
            completed = [line[6:] for line in lines[::2]]
            while b"[DONE]" in completed:
                completed.remove(b"[DONE]")
            return completed
        completed = []
        for line in lines:
            if line.startswith(b"data:"):
                self.data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif not line and self.data:
                text = self.data[0] if len(self.data) == 1 else b"\n".join(self.data)
                self.data.clear()
                if text != b"[DONE]":
                    completed.append(text)
        return completed

    def rest(self) -> list[bytes]:
        """An event the body ended in without its blank line."""
        text = b"\n".join(self.data)
        return [text] if self.data and text != b"[DONE]" else []


def _data_line_pairs(lines: list[bytes]) -> bool:
    """Whether the lines are whole one-line events only, ``data: …`` and a blank line each."""
    return (
        len(lines) % 2 == 0 and bool(lines) and not any(lines[1::2]) and all(map(bytes.startswith, lines[::2], itertools.repeat(b"data: ")))
    )


class SseEvents:
    """Whole server-sent events out of lines, framing and all (``event:`` and ``data:`` lines, without
    the blank line that ends each): for a stream relayed as the upstream wrote it."""

    def __init__(self) -> None:
        self.pending = b""

    def texts(self, lines: list[bytes]) -> list[bytes]:
        """The events these (whole) lines complete; an event's lines come back joined by ``\n``."""
        if not lines:
            return []
        events = (self.pending + b"\n".join(lines) + b"\n").split(b"\n\n")
        self.pending = events.pop()
        return [event for event in events if event]

    def rest(self) -> list[bytes]:
        """An event the body ended in without its blank line."""
        event = self.pending.rstrip(b"\n")
        return [event] if event else []


class NdjsonFraming:
    """Newline-delimited JSON: every non-empty line is one payload."""

    @staticmethod
    def texts(lines: list[bytes]) -> list[bytes]:
        return [line for line in lines if line]

    @staticmethod
    def rest() -> list[bytes]:
        return []


E = TypeVar("E")
EventConverter = Callable[[list[bytes], list[E]], None]
"""Adds what a read's payloads become to a list, in order; what it added before raising still counts."""


async def stream_events(
    client: UpstreamClient,
    url: str,
    headers: Mapping[str, str],
    payload: Json,
    secret: str,
    framing: SseFraming | SseEvents | NdjsonFraming,
    convert: EventConverter[E],
    ended: Callable[[], None],
    read_timeout: float | None = None,
) -> AsyncGenerator[list[E], None]:
    """POST ``payload`` and hand out the streamed body's payloads through ``convert``, a list for
    each read that brought any; ``ended`` is called once the body ended (to raise if the stream
    stopped short).

    One async generator from the socket to the gateway: opening the upstream, reading it, finding
    the lines and events and converting them all happen in this frame, because every generator
    layer between the socket and the client costs each read a step (and a stream has a read per
    token at human speed).

    The body is read to its end (after an SSE ``[DONE]`` too): a response closed half-read costs its
    pooled connection, and a new TCP connection per stream (the official SDKs drain it too). A
    non-2xx answer, an error object in a payload, or bad JSON, is raised as a classified
    UpstreamError, once the events of the same read before it are handed out; a transport failure
    after the first event is a broken stream.
    """
    lines = LineBuffer()
    started = False
    try:
        async with client.open(url, headers, orjson.dumps(payload), read_timeout) as response:
            if not response.is_success:
                raise classify_response(response.status_code, await response.aread(), response.headers, secret)
            while chunk := await response.read_chunk():
                events: list[E] = []
                try:
                    convert(framing.texts(lines.split(chunk)), events)
                except UpstreamError:
                    if events:
                        yield events  # the events before the error still reach the client
                    raise
                if events:
                    started = True
                    yield events
    except httpx.HTTPError as exc:
        raise transport_error(exc, secret, broken=started) from None
    tail: list[E] = []
    convert([*framing.texts(lines.rest()), *framing.rest()], tail)
    if tail:
        yield tail
    ended()

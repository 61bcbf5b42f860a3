"""What an inbound API dialect provides, so the gateway can serve an API other than chat completions.

The gateway's own currency is OpenAI's chat-completions body (``services.gateway.adapters.base``).
A dialect is another API the hub answers (Anthropic's Messages API, OpenAI's Responses API); for
each route a call of that dialect takes, one of two things happens:

* the route's provider speaks the dialect natively (``native_kind``): the request is **relayed**,
  only ``model`` renamed to the upstream model, and the answer goes back as the provider wrote it,
  bytes and all (``services.gateway.dialects.native``). The dialect tells where to post
  (``native_request``) and how to read the usage out of a native answer (``native_usage``) or a
  native stream (``native_watcher``);
* any other provider: the request is **translated** to a chat body (``to_chat``), sent through the
  route's adapter like any chat call, and the answer translated back (``from_chat``; a stream
  chunk by chunk through ``stream_translator``).

Either way the call is admitted, routed (failover before the first byte), metered and logged by
``services.gateway.calls.Gateway`` exactly as a chat completion is. Errors are answered in the
dialect's own shape (``error_status_and_body``), and a stream that breaks after its first byte ends
with the dialect's error event (``stream_error``), never a clean finish.

Stream events are handed around as **framed** bytes (a whole server-sent event each, ``sse_event``),
so a native stream passes through untouched.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Protocol

import orjson

from services.errors import ErrorKind, GatewayError, UpstreamError
from services.gateway.adapters.base import Json, Target


def sse_event(name: str, data: Json) -> bytes:
    """One server-sent event with a name (``event: name``), as Anthropic and the Responses API frame them."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def event_data(event: bytes) -> Any:
    """The JSON ``data:`` of one framed event a native stream passed through (None when it has none);
    invalid JSON is a broken stream."""
    start = event.find(b"data:")
    if start < 0:
        return None
    try:
        return orjson.loads(event[start + 5 :])
    except orjson.JSONDecodeError:
        raise UpstreamError(ErrorKind.STREAM_BROKEN, "the upstream stream sent invalid JSON") from None


class ChunkTranslator(Protocol):
    """One translated stream: OpenAI chat chunks in, the dialect's framed events out."""

    def translate(self, chunk: Json) -> list[bytes]:
        """The events one chat chunk becomes (often one, sometimes none or several)."""

    def finish(self, usage: Json) -> list[bytes]:
        """The closing events, once the chat stream ended, with its (OpenAI-shaped) usage."""


class NativeWatcher(Protocol):
    """Reads along a native stream's events as they pass through unchanged, for metering."""

    @property
    def finished(self) -> bool:
        """Whether the stream's own last event went by (else it was cut short)."""

    def see(self, event: bytes) -> None:
        """One whole framed event; an error event is raised as a classified ``UpstreamError``."""

    def final_usage(self, prompt_chars: int) -> Json:
        """The usage seen so far, OpenAI-shaped (``prompt_tokens``, ``completion_tokens``)."""


class InboundDialect(ABC):
    """An API the hub answers besides chat completions; one stateless instance per endpoint."""

    endpoint: str
    """The usage row's ``endpoint``."""
    native_kind: str
    """The provider kind whose own API this is: its routes are relayed, not translated."""
    forwarded_headers: frozenset[str] = frozenset()
    """Client headers (lower-case) passed on to the provider on a native relay (API versions, betas)."""
    answers_locally = False
    """Whether ``local_answer`` may answer for a model none of whose routes speak the dialect."""

    def is_native(self, kind: str) -> bool:
        """Whether a route of provider ``kind`` speaks this dialect itself (relayed, not translated)."""
        return kind == self.native_kind

    @abstractmethod
    def validate(self, body: Any) -> str:
        """The requested model, or GatewayError 400 naming the bad field."""

    @abstractmethod
    def prompt_chars(self, body: Json) -> int:
        """The characters of the request's texts, for estimates (routing, usage of a broken stream)."""

    @abstractmethod
    def to_chat(self, body: Json, kind: str) -> Json:
        """The chat-completions body for a route of provider ``kind``."""

    @abstractmethod
    def from_chat(self, answer: Json, model: str) -> Json:
        """The dialect's answer for a ``chat.completion`` (named after ``model``, the one asked for)."""

    @abstractmethod
    def stream_translator(self, model: str, body: Json) -> ChunkTranslator: ...

    def local_answer(self, chat_body: Json) -> Json | None:
        """An answer worked out without calling a translated route at all (a token count), or None;
        asked only when ``answers_locally``, and then also of a translated route tried in failover."""
        return None

    @abstractmethod
    def native_request(self, target: Target, headers: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        """The URL and headers of a native relay to ``target``, with the client's ``forwarded_headers``."""

    @abstractmethod
    def native_usage(self, answer: Json) -> tuple[int, int]:
        """Prompt and completion tokens of a native (whole) answer."""

    @abstractmethod
    def native_watcher(self, secret: str) -> NativeWatcher: ...

    @abstractmethod
    def error_status_and_body(self, error: GatewayError) -> tuple[int, Json]:
        """The HTTP status and body a refused call is answered with."""

    def error_headers(self, error: GatewayError) -> dict[str, str]:
        """Headers a refused call's answer carries besides the gateway's own (a retry hint)."""
        return {}

    @abstractmethod
    def stream_error(self, error: GatewayError) -> bytes:
        """The framed event that ends a stream broken after its first byte."""

"""The contract every provider adapter fulfils.

Our normalized request is OpenAI's chat-completions body (a ``dict``). An adapter translates it to
its provider's wire format, calls the provider over the shared ``UpstreamClient`` it is given (an ``httpx.AsyncClient``),
and translates the answer back to OpenAI's shapes:

* ``chat`` returns a ``chat.completion`` dict whose ``usage`` is filled in;
* ``stream_chat`` yields ``chat.completion.chunk`` objects as JSON text, ready for the client, in
  lists, one list for each upstream read that brought any (one read of a fast stream holds many
  events, and every step through a layer of async generators costs more than a chunk's own work).
  Each chunk passes through the :class:`~services.gateway.adapters.tally.StreamTally` it is given, which
  names it after the model the client asked for and keeps the usage chunk back: the gateway adds
  that at the end for a client that asked for it. It is an async generator, so the gateway can
  ``aclose`` it (and the upstream response with it) when the client goes away;
* ``embed`` returns an OpenAI ``list`` of embeddings with ``usage``.

Every failure is raised as :class:`services.errors.UpstreamError` with its kind classified.
Adapters hold no state; the secret arrives in the :class:`Target` and never reaches a log or an
error message.

``Json`` (a JSON object as a dict) is defined in :mod:`~services.gateway.adapters.shapes`, below the
tally, and named here for the protocol and its callers.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.gateway.adapters.shapes import Json
from services.gateway.adapters.tally import StreamTally
from services.gateway.adapters.transport import UpstreamClient


@dataclass(frozen=True, slots=True)
class Target:
    """Where one attempt goes: the provider's base URL, one key's secret, the upstream model; and, from
    its route and model, extra headers and the waits for an upstream byte."""

    kind: str
    base_url: str
    api_key: str = field(repr=False)
    model: str
    headers: Mapping[str, str] | None = field(default=None, repr=False)  # they may carry credentials
    timeout: float | None = None  # None: the client's own
    stream_timeout: float | None = None
    defaults: Mapping[str, Any] | None = None  # parameters the route sets when a request leaves them out
    drop_params: bool = False  # the model drops parameters this route cannot honour instead of refusing them
    options: Mapping[str, str] | None = None  # the provider's kind-specific settings (cloud_options)

    def with_headers(self, headers: dict[str, str]) -> dict[str, str]:
        """An adapter's request headers with the route's extra headers on top."""
        return headers if not self.headers else {**headers, **self.headers}

    def bearer_headers(self) -> dict[str, str]:
        """A JSON request with the key as a bearer token (OpenAI, Ollama); no ``Authorization`` without a key."""
        if not self.api_key:
            return self.with_headers({"content-type": "application/json"})
        return self.with_headers({"content-type": "application/json", "authorization": f"Bearer {self.api_key}"})


class Adapter(Protocol):
    async def chat(self, client: UpstreamClient, target: Target, body: Json) -> Json: ...

    def stream_chat(self, client: UpstreamClient, target: Target, body: Json, tally: StreamTally) -> AsyncGenerator[list[bytes], None]: ...

    async def embed(self, client: UpstreamClient, target: Target, body: Json) -> Json: ...


__all__ = ["Adapter", "Json", "Target"]

"""The OpenAI-compatible gateway API: ``/v1/chat/completions``, ``/v1/embeddings``, ``/v1/models``.

Handlers stay thin: parse, authenticate, hand the body to ``services.gateway.calls``, serialize. Bodies
are parsed and written with orjson; nothing here touches the database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from app.api.deps import HubDep, PrincipalDep, error_response, json_response
from services.errors import GatewayError
from services.gateway.calls import CallMeta
from services.hub import Hub
from services.accounts.tokens import Principal

router = APIRouter(prefix="/v1", tags=["gateway"])
ERROR_CHUNK = b'{"error"'
"""How an error chunk's JSON text starts (``GatewayError.body()``); an upstream's never does, as
adapters raise those."""

CHAT_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "required": ["model", "messages"]}}}}}
EMBED_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "required": ["model", "input"]}}}}}


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise GatewayError(400, "invalid_json", "The request body is not valid JSON.") from None


def meta_headers(meta: CallMeta) -> list[tuple[bytes, bytes]]:
    """The answer's ``x-llmhub-*`` headers, encoded for ASGI."""
    headers = [(b"x-llmhub-request-id", meta.request_id.encode()), (b"x-llmhub-overhead-ms", b"%.3f" % meta.overhead_ms)]
    served = meta.served
    if served is not None:
        headers.append((b"x-llmhub-route", f"{served.route.provider.name}/{served.route.upstream_model}".encode()))
    return headers


class GatewayAnswer(Response):
    """A JSON answer whose headers come encoded: starlette's ``init_headers`` encodes and checks a
    dict again on every answer, and these are the gateway's most frequent ones."""

    def __init__(self, content: object, headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = 200
        self.background = None
        self.body = orjson.dumps(content)
        self.raw_headers = [*headers, (b"content-type", b"application/json"), (b"content-length", b"%d" % len(self.body))]


@router.post("/chat/completions", openapi_extra=CHAT_BODY, summary="Create a chat completion (OpenAI-compatible)")
async def chat_completions(request: Request, hub: HubDep, principal: PrincipalDep) -> Response:
    return await chat_answer(hub, principal, parse_json(await request.body()), request.state.request_id)


async def chat_answer(hub: Hub, principal: Principal, body: Any, request_id: str) -> Response:
    """The answer to ``POST /v1/chat/completions``, for this route and the raw fast path alike."""
    if isinstance(body, dict) and body.get("stream") is True:
        stream = await hub.gateway.stream_chat(principal, body, request_id=request_id)
        return EventStreamResponse(stream.batches(), meta_headers(stream.meta))
    response, meta = await hub.gateway.chat(principal, body, request_id=request_id)
    return GatewayAnswer(response, meta_headers(meta))


class EventStreamResponse(Response):
    """OpenAI's stream framing of chunks that come as JSON text in lists (``data: {...}``, then
    ``data: [DONE]`` unless the stream ended in an error chunk), stopping, and closing its
    upstream, when the client goes away.

    Starlette's ``StreamingResponse`` does the same under uvicorn (ASGI spec 2.3) with an anyio task
    group per answer; a plain task that waits for ``http.disconnect`` and cancels the sending task
    costs a fraction of that, and streams are most of a gateway's answers. That task starts only
    when the stream first has to wait for its upstream: until then there is nothing to stop.
    """

    def __init__(self, chunks: AsyncIterator[list[bytes]], headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = 200
        self.background = None
        self.raw_headers = [*headers, (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
        self.chunks = chunks
        self.finished = False
        self.client_left = False
        self._watcher: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            await self._send_chunks(send, lambda: self._watch(receive, task))
        except asyncio.CancelledError:
            if not self.client_left or task.uncancel() > 0:
                raise  # a cancellation from elsewhere (shutdown) goes on
        finally:
            if self._watcher is not None:
                self._watcher.cancel()
            await self.chunks.aclose()  # type: ignore[attr-defined]

    def _watch(self, receive: Receive, task: asyncio.Task[None]) -> None:
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._cancel_on_disconnect(receive, task))

    async def _send_chunks(self, send: Send, before_waiting: Callable[[], None]) -> None:
        """Every chunk as soon as it is there, and the chunks that are there already in one ``send``.

        A list of chunks is what one upstream read brought; a ``send`` each would cost a socket
        write each. So the next list is asked for by hand (``step.send(None)``): one that comes
        without waiting joins the batch, and before any wait the batch goes out, so no chunk is ever
        held back. The last batch goes out with the end of the body, in the same write.
        """
        ready: list[bytes] = []
        last = b""
        while True:
            step = self.chunks.__anext__()
            try:
                waiting_on = step.send(None)
            except StopIteration as got:
                last = _frame(got.value, ready)
                continue
            except StopAsyncIteration:
                break
            before_waiting()
            if ready:
                await _send_batch(send, ready, step, waiting_on)
            try:
                last = _frame(await ParkedStep(step, waiting_on), ready)
            except StopAsyncIteration:
                break
        if not last.startswith(ERROR_CHUNK):
            ready.append(b"data: [DONE]\n\n")
        self.finished = True
        await send({"type": "http.response.body", "body": b"".join(ready), "more_body": False})

    async def _cancel_on_disconnect(self, receive: Receive, task: asyncio.Task[None]) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if not self.finished:
            self.client_left = True
            task.cancel()


def _frame(chunks: list[bytes], ready: list[bytes]) -> bytes:
    """Add the chunks' server-sent events to ``ready``; the last chunk is handed back."""
    ready.append(b"data: " + b"\n\ndata: ".join(chunks) + b"\n\n")
    return chunks[-1]


async def _send_batch(send: Send, batch: list[bytes], step: Any = None, waiting_on: Any = None) -> None:
    """The chunks of ``batch`` in one ``send``, then an empty batch. Should the send fail, a ``step``
    parked meanwhile on ``waiting_on`` is first unwound by the same error, as if it had been awaited."""
    try:
        await send({"type": "http.response.body", "body": b"".join(batch), "more_body": True})
    except BaseException as error:
        if step is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await ParkedStep(step, waiting_on, error)
        raise
    batch.clear()


class ParkedStep:
    """The rest of a coroutine step that was started by hand and is parked on ``waiting_on`` (what it
    yielded for the event loop): awaiting this hands that on to the task, and everything the task
    sends or throws back goes into the step, as if it had been awaited from the start. With
    ``error``, that is thrown into the step first."""

    def __init__(self, step: Any, waiting_on: Any, error: BaseException | None = None) -> None:
        self.step = step
        self.waiting_on = waiting_on
        self.error = error

    def __await__(self) -> Generator[Any, Any, Any]:
        try:
            value = self.waiting_on if self.error is None else self.step.throw(self.error)
            while True:
                try:
                    sent = yield value
                except BaseException as error:
                    value = self.step.throw(error)
                else:
                    value = self.step.send(sent)
        except StopIteration as done:
            return done.value


@router.post("/embeddings", openapi_extra=EMBED_BODY, summary="Create embeddings (OpenAI-compatible)")
async def embeddings(request: Request, hub: HubDep, principal: PrincipalDep) -> Response:
    return await embeddings_answer(hub, principal, parse_json(await request.body()), request.state.request_id)


async def embeddings_answer(hub: Hub, principal: Principal, body: Any, request_id: str) -> Response:
    """The answer to ``POST /v1/embeddings``, for this route and the raw fast path alike."""
    response, meta = await hub.gateway.embed(principal, body, request_id=request_id)
    return GatewayAnswer(response, meta_headers(meta))


@router.get("/models", summary="List the models this token may use")
async def list_models(hub: HubDep, principal: PrincipalDep) -> Response:
    table = hub.table
    names = [*sorted(table.models), *table.concrete_models()]
    data = [
        {"id": name, "object": "model", "created": 0, "owned_by": "llmhub" if name in table.models else name.partition("/")[0]}
        for name in names
        if principal.may_use(name)
    ]
    return json_response({"object": "list", "data": data})


def gateway_error_handler(_request: Request, error: Exception) -> Response:
    assert isinstance(error, GatewayError)
    return error_response(error)

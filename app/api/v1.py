"""The OpenAI-compatible gateway API: ``/v1/chat/completions``, ``/v1/embeddings``, ``/v1/models``.

Handlers stay thin: parse, authenticate, hand the body to ``services.gateway``, serialize. Bodies
are parsed and written with orjson; nothing here touches the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from app.api.deps import HubDep, PrincipalDep, error_response, json_response
from services.gateway import CallMeta, ChatStream
from services.router import GatewayError

router = APIRouter(prefix="/v1", tags=["gateway"])

CHAT_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "required": ["model", "messages"]}}}}}
EMBED_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "required": ["model", "input"]}}}}}


async def read_json(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise GatewayError(400, "invalid_json", "The request body is not valid JSON.") from None


def meta_headers(meta: CallMeta) -> dict[str, str]:
    headers = {"x-llmhub-request-id": meta.request_id, "x-llmhub-overhead-ms": f"{meta.overhead_ms:.3f}"}
    served = meta.served
    if served is not None:
        headers["x-llmhub-route"] = f"{served.route.provider.name}/{served.route.upstream_model}"
    return headers


@router.post("/chat/completions", openapi_extra=CHAT_BODY, summary="Create a chat completion (OpenAI-compatible)")
async def chat_completions(request: Request, hub: HubDep, principal: PrincipalDep) -> Response:
    body = await read_json(request)
    if isinstance(body, dict) and body.get("stream") is True:
        stream = await hub.gateway.stream_chat(principal, body, request_id=request.state.request_id)
        return StreamingResponse(sse_lines(stream), media_type="text/event-stream", headers={**meta_headers(stream.meta), "cache-control": "no-cache"})
    response, meta = await hub.gateway.chat(principal, body, request_id=request.state.request_id)
    return json_response(response, headers=meta_headers(meta))


async def sse_lines(stream: ChatStream) -> AsyncIterator[bytes]:
    """SSE framing; a stream that ended in an error event gets no ``[DONE]`` after it."""
    chunks = stream.__aiter__()
    failed = False
    try:
        async for chunk in chunks:
            failed = "error" in chunk
            yield b"data: " + orjson.dumps(chunk) + b"\n\n"
        if not failed:
            yield b"data: [DONE]\n\n"
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]


@router.post("/embeddings", openapi_extra=EMBED_BODY, summary="Create embeddings (OpenAI-compatible)")
async def embeddings(request: Request, hub: HubDep, principal: PrincipalDep) -> Response:
    response, meta = await hub.gateway.embed(principal, await read_json(request), request_id=request.state.request_id)
    return json_response(response, headers=meta_headers(meta))


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

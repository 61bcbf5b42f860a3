"""The OpenAI-compatible gateway API: ``/v1/chat/completions``, ``/v1/embeddings``, ``/v1/models`` (and one by id).

Handlers stay thin: parse, authenticate, hand the body to ``services.gateway.calls``, serialize. Bodies
are parsed and written with orjson; nothing here touches the database. A streamed answer's server-sent
events are written by ``app.api.event_stream``.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.api.deps import HubDep, PrincipalDep, error_response, json_response
from app.api.event_stream import EventStreamResponse
from services.accounts.tokens import Principal
from services.errors import GatewayError
from services.gateway.calls import CallMeta
from services.hub import Hub

router = APIRouter(prefix="/v1", tags=["gateway"])

CHAT_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "required": ["model", "messages"]}}}}
}
EMBED_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "required": ["model", "input"]}}}}
}


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
    data = [model_card(name, table.is_logical(name)) for name in table.model_names() if principal.may_use(name)]
    return json_response({"object": "list", "data": data})


@router.get("/models/{model_id:path}", summary="Retrieve one model this token may use")
async def retrieve_model(model_id: str, hub: HubDep, principal: PrincipalDep) -> Response:
    """A logical model, an alias, a wildcard's match or a ``provider/model`` name (ids hold ``/``);
    a name the token may not use is as unknown as one that does not exist."""
    table = hub.table
    if not principal.may_use(model_id) or table.resolve(model_id) is None:
        message = f"The model `{model_id}` does not exist or you do not have access to it."
        raise GatewayError(404, "model_not_found", message, param="model")
    return json_response(model_card(model_id, table.is_logical(model_id)))


def model_card(name: str, logical: bool) -> dict[str, object]:
    """One entry of OpenAI's model list: logical models are the hub's own, the rest their provider's."""
    return {"id": name, "object": "model", "created": 0, "owned_by": "llmhub" if logical else name.partition("/")[0]}


def gateway_error_handler(_request: Request, error: Exception) -> Response:
    assert isinstance(error, GatewayError)
    return error_response(error)

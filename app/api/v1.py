"""The gateway API: OpenAI's ``/v1/chat/completions``, ``/v1/embeddings``, ``/v1/models`` (and one by id),
and the inbound dialects (``services.gateway.dialects``): Anthropic's ``/v1/messages`` and its ``count_tokens``,
OpenAI's ``/v1/responses`` and legacy ``/v1/completions``.

Handlers stay thin: parse, authenticate, hand the body to ``services.gateway.calls``, serialize. Bodies
are parsed and written with orjson; nothing here touches the database. A streamed answer's server-sent
events are written by ``app.api.event_stream``.

``ENDPOINTS`` is what the raw fast path (``app.api.fast_path``) answers: each endpoint's handler, the
shape of its errors and the headers it reads. A new dialect endpoint is one line there
(``dialect_endpoint``) and a FastAPI route for the docs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.api.deps import HubDep, PrincipalDep, bearer_token, error_response, json_response
from app.api.event_stream import EventStreamResponse, FramedEventStream
from app.runtime import get_hub
from services.accounts.tokens import Principal
from services.cache.replay import replay_form, replayed
from services.cache.service import CachePlan
from services.errors import GatewayError
from services.gateway.calls import NO_HEADERS, CallMeta
from services.gateway.dialects.anthropic_messages import ANTHROPIC_MESSAGES, ANTHROPIC_TOKEN_COUNT
from services.gateway.dialects.base import InboundDialect
from services.gateway.dialects.openai_completions import OPENAI_COMPLETIONS
from services.gateway.dialects.openai_responses import OPENAI_RESPONSES
from services.gateway.long_requests import LONG_BODY_BYTES, prepared
from services.gateway.validation import validate_chat_body, validate_embedding_body
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
    if meta.cache is not None:
        headers.append((b"x-llmhub-cache", meta.cache.encode()))
        if meta.cache_age is not None:
            headers.append((b"x-llmhub-cache-age", b"%d" % meta.cache_age))
    return headers


def cached_answer(hub: Hub, plan: CachePlan, request_id: str, stream_class: type[EventStreamResponse]) -> Response:
    """A call answered from the response cache (``services.cache``), metered as a hit."""
    meta = hub.cache.meter_hit(plan, request_id)
    assert plan.found is not None
    form, content = replay_form(plan.found, plan.streams)
    if form == "json":
        return GatewayAnswer(content, meta_headers(meta))
    return stream_class(replayed(form, content, plan.wants_usage), meta_headers(meta))


class GatewayAnswer(Response):
    """A JSON answer whose headers come encoded: starlette's ``init_headers`` encodes and checks a
    dict again on every answer, and these are the gateway's most frequent ones."""

    def __init__(self, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = 200
        self.background = None
        self.body = body
        self.raw_headers = [*headers, (b"content-type", b"application/json"), (b"content-length", b"%d" % len(self.body))]


@router.post("/chat/completions", openapi_extra=CHAT_BODY, summary="Create a chat completion (OpenAI-compatible)")
async def chat_completions(request: Request, hub: HubDep, principal: PrincipalDep) -> Response:
    return await chat_answer(hub, principal, parse_json(await request.body()), request.state.request_id, request.headers)


async def chat_answer(hub: Hub, principal: Principal, body: Any, request_id: str, headers: Mapping[str, str] = NO_HEADERS) -> Response:
    """The answer to ``POST /v1/chat/completions``, for this route and the raw fast path alike."""
    plan = await hub.cache.consult(principal, "chat", body, headers, lambda chat: validate_chat_body(chat, hub.gateway.limits))
    if plan is not None and plan.found is not None:
        return cached_answer(hub, plan, request_id, EventStreamResponse)
    if isinstance(body, dict) and body.get("stream") is True:
        stream = await hub.gateway.stream_chat(principal, body, request_id=request_id)
        return EventStreamResponse(hub.cache.recorded(plan, stream), meta_headers(stream.meta))
    response, meta = await hub.gateway.chat(principal, body, request_id=request_id)
    return GatewayAnswer(hub.cache.kept(plan, orjson.dumps(response), meta), meta_headers(meta))


@router.post("/embeddings", openapi_extra=EMBED_BODY, summary="Create embeddings (OpenAI-compatible)")
async def embeddings(request: Request, hub: HubDep, principal: PrincipalDep) -> Response:
    return await embeddings_answer(hub, principal, parse_json(await request.body()), request.state.request_id, request.headers)


async def embeddings_answer(hub: Hub, principal: Principal, body: Any, request_id: str,
                            headers: Mapping[str, str] = NO_HEADERS) -> Response:
    """The answer to ``POST /v1/embeddings``, for this route and the raw fast path alike."""
    plan = await hub.cache.consult(principal, "embeddings", body, headers, lambda embed: validate_embedding_body(embed, hub.gateway.limits))
    if plan is not None and plan.found is not None:
        return cached_answer(hub, plan, request_id, EventStreamResponse)
    response, meta = await hub.gateway.embed(principal, body, request_id=request_id)
    return GatewayAnswer(hub.cache.kept(plan, orjson.dumps(response), meta), meta_headers(meta))


Answer = Callable[[Hub, Principal, Any, str, Mapping[str, str]], Awaitable[Response]]
ErrorAnswer = Callable[[GatewayError, "dict[str, str] | None"], Response]
CREDENTIAL_HEADERS = frozenset({b"authorization", b"x-api-key", b"cache-control"})
"""The headers every endpoint reads: the credentials, and the client's say on the response cache."""


@dataclass(frozen=True, slots=True)
class GatewayEndpoint:
    """One ``POST`` the fast path answers: its handler, its error shape, the headers (raw, lower-case) it reads."""

    answer: Answer
    error: ErrorAnswer = error_response
    headers: frozenset[bytes] = CREDENTIAL_HEADERS


def dialect_endpoint(dialect: InboundDialect) -> GatewayEndpoint:
    """The endpoint of an inbound dialect: its answers, its errors, and its forwarded headers besides the credentials."""

    async def answer(hub: Hub, principal: Principal, body: Any, request_id: str, headers: Mapping[str, str]) -> Response:
        plan = await hub.cache.consult(principal, dialect.endpoint, body, headers, dialect.validate)
        if plan is not None and plan.found is not None:
            return cached_answer(hub, plan, request_id, FramedEventStream)
        if isinstance(body, dict) and body.get("stream") is True:
            stream = await hub.gateway.stream_dialect(principal, body, dialect, headers=headers, request_id=request_id)
            return FramedEventStream(hub.cache.recorded(plan, stream), meta_headers(stream.meta))
        content, meta = await hub.gateway.dialect_call(principal, body, dialect, headers=headers, request_id=request_id)
        return GatewayAnswer(hub.cache.kept(plan, content, meta), meta_headers(meta))

    def error(error: GatewayError, headers: dict[str, str] | None = None) -> Response:
        status, body = dialect.error_status_and_body(error)
        extra = {**(headers or {}), **dialect.error_headers(error)}
        if error.retry_after is not None:
            extra["retry-after"] = str(error.retry_after)
        return json_response(body, status, extra)

    return GatewayEndpoint(answer, error, CREDENTIAL_HEADERS | {name.encode() for name in dialect.forwarded_headers})


def responses_endpoint() -> GatewayEndpoint:
    """``POST /v1/responses``: the Responses dialect, with the hub's stored responses around it (a
    ``previous_response_id`` spelled out before the call, the answer kept after it)."""
    plain = dialect_endpoint(OPENAI_RESPONSES)

    async def answer(hub: Hub, principal: Principal, body: Any, request_id: str, headers: Mapping[str, str]) -> Response:
        store = hub.responses
        forwarded, items = await store.conversation(principal, body)
        plan = await hub.cache.consult(principal, OPENAI_RESPONSES.endpoint, forwarded, headers, OPENAI_RESPONSES.validate)
        if plan is not None and plan.found is not None:  # its response was stored when it was first answered
            return cached_answer(hub, plan, request_id, FramedEventStream)
        if isinstance(forwarded, dict) and forwarded.get("stream") is True:
            stream = await hub.gateway.stream_dialect(principal, forwarded, OPENAI_RESPONSES, headers=headers, request_id=request_id)
            batches = hub.cache.recorded(plan, stream)
            return FramedEventStream(store.kept_stream(principal, body, items, batches), meta_headers(stream.meta))
        content, meta = await hub.gateway.dialect_call(principal, forwarded, OPENAI_RESPONSES, headers=headers, request_id=request_id)
        store.keep_answer(principal, body, items, content)
        return GatewayAnswer(hub.cache.kept(plan, content, meta), meta_headers(meta))

    return GatewayEndpoint(answer, plain.error, plain.headers)


ENDPOINTS: dict[str, GatewayEndpoint] = {
    "/v1/chat/completions": GatewayEndpoint(chat_answer),
    "/v1/embeddings": GatewayEndpoint(embeddings_answer),
    "/v1/messages": dialect_endpoint(ANTHROPIC_MESSAGES),
    "/v1/messages/count_tokens": dialect_endpoint(ANTHROPIC_TOKEN_COUNT),
    "/v1/responses": responses_endpoint(),
    "/v1/completions": dialect_endpoint(OPENAI_COMPLETIONS),
}


async def answer_endpoint(path: str, headers: Mapping[str, str], raw: bytes, request_id: str) -> Response:
    """Authenticate, parse, answer (a 401 before a 400): for the fast path and the FastAPI routes alike."""
    hub = get_hub()
    principal = hub.tokens.authenticate(bearer_token(headers))
    body = await prepared(len(raw) >= LONG_BODY_BYTES, parse_json, raw)
    return await ENDPOINTS[path].answer(hub, principal, body, request_id, headers)


async def framework_answer(request: Request) -> Response:
    """A dialect endpoint reached through FastAPI (the fast path answers it first when it runs): errors in its own shape."""
    try:
        return await answer_endpoint(request.url.path, request.headers, await request.body(), request.state.request_id)
    except GatewayError as error:
        return ENDPOINTS[request.url.path].error(error, None)


MESSAGES_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "required": ["model", "messages"]}}}}
}


@router.post("/messages", openapi_extra=MESSAGES_BODY, summary="Create a message (Anthropic Messages API)")
async def messages(request: Request) -> Response:
    return await framework_answer(request)


@router.post("/messages/count_tokens", openapi_extra=MESSAGES_BODY, summary="Count a message's tokens (Anthropic Messages API)")
async def count_tokens(request: Request) -> Response:
    return await framework_answer(request)


RESPONSES_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "required": ["model", "input"]}}}}
}


@router.post("/responses", openapi_extra=RESPONSES_BODY, summary="Create a model response (OpenAI Responses API)")
async def responses(request: Request) -> Response:
    return await framework_answer(request)


COMPLETIONS_BODY = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "required": ["model", "prompt"]}}}}
}


@router.post("/completions", openapi_extra=COMPLETIONS_BODY, summary="Create a completion (OpenAI legacy completions)")
async def completions(request: Request) -> Response:
    return await framework_answer(request)


@router.get("/responses/{response_id}", summary="Retrieve a stored model response (OpenAI Responses API)")
async def retrieve_response(response_id: str, hub: HubDep, principal: PrincipalDep) -> Response:
    return json_response(await hub.responses.get(principal, response_id))


@router.delete("/responses/{response_id}", summary="Delete a stored model response (OpenAI Responses API)")
async def delete_response(response_id: str, hub: HubDep, principal: PrincipalDep) -> Response:
    return json_response(await hub.responses.delete(principal, response_id))


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

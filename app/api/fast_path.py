"""A raw ASGI path for the two calls that carry a gateway's traffic: ``POST /v1/chat/completions``
and ``POST /v1/embeddings``.

FastAPI's routing, dependency injection and exception middlewares add a string of awaits to every
call, a large share of what the gateway itself costs (``bench/README.md``). Here those
two calls go straight from uvicorn (``GatewayFastPath`` is the front door of the served app,
``app.internals.open_front_door``) to the same handlers the FastAPI routes use
(``app.api.v1.chat_answer`` / ``embeddings_answer``), with the same authentication
(``bearer_token`` + ``TokenRegistry.authenticate``) and the same OpenAI-shaped errors
(``error_response``). The FastAPI routes stay registered, for the OpenAPI docs and for anything
this path does not answer (other methods, other paths).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.body_limit import read_limited_body
from app.api.deps import bearer_token, error_response
from app.api.v1 import chat_answer, embeddings_answer, parse_json
from app.runtime import get_hub
from services.accounts.tokens import Principal
from services.errors import GatewayError
from services.gateway.calls import new_request_id
from services.hub import Hub

Answer = Callable[[Hub, Principal, Any, str], Awaitable[Response]]
ANSWERS: dict[str, Answer] = {"/v1/chat/completions": chat_answer, "/v1/embeddings": embeddings_answer}
CREDENTIAL_HEADERS = frozenset({b"authorization", b"x-api-key"})


def credential_headers(scope: Scope) -> dict[str, str]:
    """The headers a gateway token may come in, picked from the raw ASGI ones (names arrive
    lower-case) without building starlette's ``Headers`` for every call."""
    return {name.decode(): value.decode("latin-1") for name, value in scope["headers"] if name in CREDENTIAL_HEADERS}


async def answer_gateway_call(scope: Scope, receive: Receive, send: Send) -> None:
    """Authenticate, parse, answer: in the order the FastAPI route does it (a 401 before a 400).

    The request id and overhead headers are set here rather than by ``RequestIdMiddleware``: an
    answer carries them already (``meta_headers``), so only an error needs them added, and a stream's
    chunks do not each pass through one more ``send`` wrapper.
    """
    started = time.perf_counter()
    request_id = new_request_id()
    answer = ANSWERS[scope["path"]]
    try:
        hub = get_hub()
        principal = hub.tokens.authenticate(bearer_token(credential_headers(scope)))
        body = parse_json(await read_limited_body(scope, receive, hub.gateway.limits.max_body_bytes))
        response = await answer(hub, principal, body, request_id)
    except GatewayError as error:
        overhead = f"{(time.perf_counter() - started) * 1000:.3f}"
        response = error_response(error, {"x-llmhub-request-id": request_id, "x-llmhub-overhead-ms": overhead})
    await response(scope, receive, send)


class GatewayFastPath:
    """Answers the gateway calls itself and hands every other request to the app behind it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in ANSWERS:
            await answer_gateway_call(scope, receive, send)
        else:
            await self.app(scope, receive, send)

"""A raw ASGI path for the calls that carry a gateway's traffic: ``POST /v1/chat/completions``,
``POST /v1/embeddings`` and the inbound dialects' (``/v1/messages``; ``app.api.v1.ENDPOINTS``).

FastAPI's routing, dependency injection and exception middlewares add a string of awaits to every
call, a large share of what the gateway itself costs (``bench/README.md``). Here those
two calls go straight from uvicorn (``GatewayFastPath`` is the front door of the served app,
``app.internals.open_front_door``) to the same handlers the FastAPI routes use
(``app.api.v1.chat_answer`` / ``embeddings_answer``), with the same authentication
(``bearer_token`` + ``TokenRegistry.authenticate``) and the same errors (OpenAI-shaped, or in
a dialect's own shape). The FastAPI routes stay registered, for the OpenAPI docs and for anything
this path does not answer (other methods, other paths).
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.body_limit import read_limited_body
from app.api.v1 import ENDPOINTS, answer_endpoint
from app.runtime import get_hub
from services.errors import GatewayError
from services.gateway.calls import new_request_id


def picked_headers(scope: Scope, wanted: frozenset[bytes]) -> dict[str, str]:
    """The headers an endpoint reads (a gateway token may come in, API versions), picked from the raw
    ASGI ones (names arrive lower-case) without building starlette's ``Headers`` for every call."""
    return {name.decode(): value.decode("latin-1") for name, value in scope["headers"] if name in wanted}


async def answer_gateway_call(scope: Scope, receive: Receive, send: Send) -> None:
    """Authenticate, parse, answer: in the order the FastAPI route does it (a 401 before a 400).

    The request id and overhead headers are set here rather than by ``RequestIdMiddleware``: an
    answer carries them already (``meta_headers``), so only an error needs them added, and a stream's
    chunks do not each pass through one more ``send`` wrapper.
    """
    started = time.perf_counter()
    request_id = new_request_id()
    path = scope["path"]
    endpoint = ENDPOINTS[path]
    try:
        body = await read_limited_body(scope, receive, get_hub().gateway.limits.max_body_bytes)
        response = await answer_endpoint(path, picked_headers(scope, endpoint.headers), body, request_id)
    except GatewayError as error:
        overhead = f"{(time.perf_counter() - started) * 1000:.3f}"
        response = endpoint.error(error, {"x-llmhub-request-id": request_id, "x-llmhub-overhead-ms": overhead})
    await response(scope, receive, send)


class GatewayFastPath:
    """Answers the gateway calls itself and hands every other request to the app behind it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in ENDPOINTS:
            await answer_gateway_call(scope, receive, send)
        else:
            await self.app(scope, receive, send)

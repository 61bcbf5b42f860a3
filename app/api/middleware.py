"""A pure-ASGI middleware for the API app: request id and gateway overhead headers on every answer.

Pure ASGI (not ``BaseHTTPMiddleware``) so streaming answers pass through untouched and the
per-request cost stays small.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.calls import new_request_id

REQUEST_ID = b"x-llmhub-request-id"
OVERHEAD = b"x-llmhub-overhead-ms"


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                names = {name.lower() for name, _ in headers}
                if REQUEST_ID not in names:
                    headers.append((REQUEST_ID, request_id.encode()))
                if OVERHEAD not in names:
                    headers.append((OVERHEAD, f"{(time.perf_counter() - started) * 1000:.3f}".encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)

"""The request body limit (``LLMHUB_MAX_BODY_BYTES``) for every API path: a body announced or read
past it is answered 413 in the API's error shape, and no more of it is read. A transcription's upload
may be as large as its audio file may (``services.gateway.media.MAX_AUDIO_BYTES``, OpenAI's limit).

The fast path reads its bodies with ``read_limited_body``; the FastAPI routes get ``BodyLimitMiddleware``,
which refuses on ``Content-Length`` at once and otherwise stops a chunked body at the byte that
crosses the limit (the receive it hands on raises, and the app's exception handler answers).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.deps import error_response
from app.runtime import get_hub
from services.errors import GatewayError
from services.gateway.media import MAX_AUDIO_BYTES


def too_large(limit: int) -> GatewayError:
    return GatewayError(413, "request_too_large", f"The request body is larger than this hub accepts ({limit} bytes).")


def announced_length(scope: Scope) -> int | None:
    """The ``Content-Length`` a request announces, if any (a malformed one counts as none: the server refuses it)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def read_limited_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body (one or more ASGI messages), or GatewayError 413 when its ``Content-Length``
    or the bytes read pass ``limit``."""
    length = announced_length(scope)
    if length is not None and length > limit:
        raise too_large(limit)
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        if len(body) > limit:
            raise too_large(limit)
        return body
    parts = [body]
    size = len(body)
    while message.get("more_body"):
        message = await receive()
        part = message.get("body", b"")
        size += len(part)
        if size > limit:
            raise too_large(limit)
        parts.append(part)
    return b"".join(parts)


UPLOAD_PATHS = {"/v1/audio/transcriptions": MAX_AUDIO_BYTES + 1024 * 1024}
"""Paths whose bodies are files, with the most they may carry: the file's limit and room for the form's fields."""


def body_limit(path: str, limit: int) -> int:
    """The limit for a request to ``path``: the configured one, raised for a file upload up to the file's own limit."""
    return max(limit, UPLOAD_PATHS.get(path, 0))


class BodyLimitMiddleware:
    """The limit for the FastAPI app's routes (the fast path checks its own)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["path"], get_hub().gateway.limits.max_body_bytes)
        length = announced_length(scope)
        if length is not None and length > limit:
            await error_response(too_large(limit))(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, too_large(limit).message)
            return message

        await self.app(scope, limited_receive, send)

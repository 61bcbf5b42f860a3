"""Console sessions and the console's response headers (issue #16, findings 8 and 9).

**A new session id at sign-in and sign-out.** NiceGUI keys a browser's storage by an id in its signed
session cookie, issued on the first visit, before anyone signs in. Signing in inside a page event (over
the websocket) cannot send a new cookie, so it leaves a one-time ticket and sends the browser to
``/_session/begin``: that HTTP answer gives the browser a new session id whose storage holds the user,
and empties the old one. A cookie captured before sign-in (or planted: session fixation) opens nothing.
``/_session/end`` does the same on sign-out.

**Lifetimes.** A session ends ``LLMHUB_SESSION_IDLE_MINUTES`` after its last page load and
``LLMHUB_SESSION_MAX_HOURS`` after sign-in, whatever happens in between (the cookie lives no longer).

**Headers.** Console answers carry a Content-Security-Policy NiceGUI works under (its page template
and Vue's template compiler need inline scripts and ``eval``; nothing may load from another origin or
frame the console), ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff`` and a
``Referrer-Policy``. Cookies get ``Secure`` when the request came over HTTPS, as uvicorn sees it: the
``X-Forwarded-Proto`` of a proxy counts only from the addresses in ``LLMHUB_TRUSTED_PROXIES``.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import app
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.internals import new_user_storage
from services.cluster import Cluster

BEGIN_PATH = "/_session/begin"
END_PATH = "/_session/end"
TICKET_SECONDS = 60.0
SEEN_EVERY_SECONDS = 60.0  # a page load moves the idle clock at most this often (each move writes the storage file)

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


@dataclass(frozen=True, slots=True)
class Lifetimes:
    idle_seconds: float = 8 * 3600
    max_seconds: float = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Ticket:
    user_id: int
    epoch: int
    expires: float


_lifetimes = Lifetimes()
_tickets: dict[str, Ticket] = {}
_cluster: Cluster | None = None  # several instances: a ticket issued on one is taken on whichever the browser reaches


def configure(lifetimes: Lifetimes, cluster: Cluster | None = None) -> None:
    global _lifetimes, _cluster
    _lifetimes, _cluster = lifetimes, cluster


def local_target(target: str) -> str:
    """``target`` if it is a path on this site, else ``/`` (no open redirect through ``next``)."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


def begin_url(user_id: int, epoch: int, target: str) -> str:
    """Where to send the browser to be signed in as ``user_id`` (under a new session id), then on to ``target``."""
    now = time.monotonic()
    for stale in [key for key, ticket in _tickets.items() if ticket.expires < now]:
        del _tickets[stale]
    ticket = secrets.token_urlsafe(24)
    if _cluster is not None:
        _cluster.put_once(f"ticket:{ticket}", json.dumps([user_id, epoch]), TICKET_SECONDS)
    else:
        _tickets[ticket] = Ticket(user_id, epoch, now + TICKET_SECONDS)
    return f"{BEGIN_PATH}?ticket={ticket}&next={quote(local_target(target))}"


def session_alive(storage: dict[str, object]) -> bool:
    """Whether the session in ``storage`` is within its lifetimes; a live one's idle clock is moved on."""
    now = time.time()
    signed_in, seen = storage.get("signed_in_at"), storage.get("seen_at")
    if not isinstance(signed_in, float) or not isinstance(seen, float):
        return False
    if now - signed_in > _lifetimes.max_seconds or now - seen > _lifetimes.idle_seconds:
        return False
    if now - seen > SEEN_EVERY_SECONDS:
        storage["seen_at"] = now
    return True


async def _renew(request: Request, content: dict[str, object]) -> None:
    """Give the browser a new session id holding ``content``, and empty the storage of the old one."""
    old = request.session.get("id")
    if isinstance(old, str):
        app.storage.user.clear()
    request.session["id"] = new_id = str(uuid.uuid4())
    storage = await new_user_storage(new_id)
    storage.update(content)


async def _take_ticket(ticket: str) -> Ticket | None:
    if _cluster is not None:
        shared = await _cluster.take_once(f"ticket:{ticket}")
        if shared is None:
            return None
        user_id, epoch = json.loads(shared)
        return Ticket(user_id, epoch, expires=time.monotonic() + TICKET_SECONDS)
    found = _tickets.pop(ticket, None)
    return found if found is not None and found.expires >= time.monotonic() else None


async def begin_session(request: Request, ticket: str = "", next: str = "/") -> RedirectResponse:
    found = await _take_ticket(ticket) if ticket else None
    if found is None:
        return RedirectResponse("/login", status_code=303)
    now = time.time()
    await _renew(request, {"user_id": found.user_id, "epoch": found.epoch, "signed_in_at": now, "seen_at": now})
    return RedirectResponse(local_target(next), status_code=303)


async def end_session(request: Request) -> RedirectResponse:
    await _renew(request, {})
    return RedirectResponse("/login", status_code=303)


class ConsoleHeadersMiddleware:
    """The security headers on every console answer, and ``Secure`` on its cookies over HTTPS."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(name, value + b"; secure" if secure and name == b"set-cookie" and b"secure" not in value.lower() else value)
                           for name, value in message.get("headers", ())]
                message["headers"] = headers + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(lifetimes: Lifetimes, cluster: Cluster | None = None) -> None:
    configure(lifetimes, cluster)
    app.add_api_route(BEGIN_PATH, begin_session, methods=["GET"], include_in_schema=False)
    app.add_api_route(END_PATH, end_session, methods=["GET"], include_in_schema=False)
    app.add_middleware(ConsoleHeadersMiddleware)

"""Every place LLM Hub reaches into NiceGUI's, FastAPI's, starlette's or uvicorn's internals, in one module.

Each patch below is there for the gateway's speed and relies on something those libraries do not
promise; ``tests/app/test_internals.py`` checks each of them on the installed versions and fails
naming the library and the attribute when an upgrade moves one. What they rely on:

* **starlette** (``Starlette.__call__``, and ``FastAPI.__call__`` on its telemetry branch): the
  middleware stack is built lazily, on the first request, by calling ``self.build_middleware_stack()``
  while ``self.middleware_stack`` is ``None``; and **NiceGUI** has not built it yet when ``app.server.build``
  runs. ``install_fast_lane`` shadows ``build_middleware_stack`` on NiceGUI's app object (an instance
  attribute over the method) so that the stack it builds is a dispatcher: API paths go to the lean API
  app, everything else to the console's stack. Why: API calls then skip the session, gzip, sign-in and
  page middlewares only the console needs; a mounted sub-app would still run through all of them.
* **FastAPI** ``FastAPI._telemetry`` (private): the ``TelemetryConfig`` dict built from the constructor's
  ``telemetry=`` option, with ``tracing``, ``metrics`` and ``logs`` flags, held by reference by
  ``FastAPI._native_telemetry`` (``fastapi.telemetry._asgi.NativeTelemetry``), whose ``enabled()`` runs on
  every HTTP request and consults OpenTelemetry's global providers for each flag that is on.
  ``skip_fastapi_telemetry`` turns the flags off in that dict in place. Why: NiceGUI constructs the
  app, so the public ``telemetry=`` option cannot be passed, and the check costs every call.
* **NiceGUI** ``nicegui.server.Server.instance``: the one ``uvicorn.Server`` that ``ui.run`` creates
  (``Server.create_singleton``), whose ``config`` is the ``uvicorn.Config`` being served; and
  ``App.safe_invoke``, which runs an async start-up handler as a task created during the lifespan's
  start-up, so the handler's first step runs before uvicorn goes on to listen. **uvicorn**
  ``Config.loaded_app``: the app each protocol instance (h11, httptools, wsproto) takes in its
  ``__init__``, that is once per new connection; ``Server.startup`` runs the lifespan's start-up before
  it listens. ``open_front_door`` replaces ``loaded_app`` from that start-up handler
  (``app.server._starter``), which must not suspend before it does: connections accepted meanwhile
  would keep the old app (still correct, only slower). Why: chat completions and embeddings then meet
  the fast path ahead of five layers they do not use.
* **NiceGUI** ``Storage._create_user_storage(session_id)`` and ``Storage._users`` (private): the per-session
  user storage NiceGUI's request middleware creates on a request's first sight of a session id.
  ``new_user_storage`` creates one for an id the hub has just issued. Why: sign-in gives the browser a new
  session id (``app.sessions``), which NiceGUI only ever hands out on a first visit.
* **NiceGUI** ``nicegui.server.Server.run(sockets=None)``: what ``ui.run`` calls to serve, passing no
  sockets (so uvicorn binds its own), and **uvicorn** ``Server.run(sockets=[...])``, which serves
  already-listening sockets instead. ``serve_inherited_socket`` makes ``ui.run`` serve the socket a
  ``--workers`` parent bound and handed down (``app.workers``). Why: ``ui.run`` refuses ``workers > 1``,
  and uvicorn's ``fd=`` option takes any descriptor for a Unix socket.
* **NiceGUI** ``core.sio`` (python-socketio's ``AsyncServer``) with ``eio`` its engine.io server, whose
  ``cors_allowed_origins`` NiceGUI sets to ``'*'``; engine.io reads it on every handshake, and ``None``
  means "only the origin the request was addressed to". ``same_origin_socket`` sets that. Why: the
  console's socket must not answer pages of other sites with the visitor's credentials.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from nicegui import app as nicegui_app
from nicegui import core
from nicegui.persistence import PersistentDict
from nicegui.server import Server as NiceGUIServer
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.fast_path import GatewayFastPath

API_PREFIXES = ("/v1/", "/api/", "/health", "/metrics")


def install_fast_lane(api: ASGIApp) -> None:
    """Route API paths around NiceGUI's middleware stack (built lazily on the first request)."""
    build_console_stack: Callable[[], ASGIApp] = nicegui_app.build_middleware_stack

    def build() -> ASGIApp:
        console = build_console_stack()

        async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["path"].startswith(API_PREFIXES):
                await api(scope, receive, send)
            else:
                await console(scope, receive, send)

        return dispatch

    nicegui_app.build_middleware_stack = build  # type: ignore[method-assign]


async def new_user_storage(session_id: str) -> PersistentDict:
    """The user storage of a session id NiceGUI has not seen yet (created, loaded and registered)."""
    storage = nicegui_app.storage
    await storage._create_user_storage(session_id)
    return storage._users[session_id]


def same_origin_socket() -> None:
    """Make the console's socket refuse a handshake whose ``Origin`` is not the site it was addressed to."""
    core.sio.eio.cors_allowed_origins = None


def skip_fastapi_telemetry() -> None:
    """Spare every request FastAPI's OpenTelemetry check, unless OpenTelemetry is being set up.

    FastAPI asks OpenTelemetry's global providers on each request whether anyone listens, a measurable
    share of a gateway call's CPU (``bench/README.md``). LLM Hub sets up no OpenTelemetry; when
    ``OTEL_*`` variables show someone else does (``opentelemetry-instrument``), the check stays.
    NiceGUI builds the app, so FastAPI's ``telemetry=`` option is applied here.
    """
    telemetry = getattr(nicegui_app, "_telemetry", None)
    if isinstance(telemetry, dict) and not any(name.startswith("OTEL_") for name in os.environ):
        telemetry.update(tracing=False, metrics=False, logs=False)


def open_front_door() -> None:
    """Make the gateway's fast path the first thing each request meets, ahead of the app uvicorn loaded.

    That app is NiceGUI's FastAPI app behind uvicorn's proxy-headers middleware: the middleware,
    ``FastAPI.__call__``, its telemetry check, ``Starlette.__call__`` and the lane dispatcher are five
    layers (and their frames on every suspend and resume of a call) that chat completions and
    embeddings do not use; the proxy headers only rewrite the client address and scheme, which the
    gateway calls never read. uvicorn hands ``config.loaded_app`` to each new connection, and start-up
    handlers run before the first connection is accepted, so replacing it here covers every request.
    """
    config = NiceGUIServer.instance.config
    config.loaded_app = GatewayFastPath(config.loaded_app)


def serve_inherited_socket(fd: int) -> None:
    """Make ``ui.run`` serve the listening socket ``fd`` (inherited from the ``--workers`` parent)."""
    listening = socket.socket(fileno=fd)  # family and type read from the descriptor
    serve = NiceGUIServer.run

    def run(self: NiceGUIServer, sockets: list[socket.socket] | None = None) -> None:
        serve(self, sockets or [listening])

    NiceGUIServer.run = run  # type: ignore[method-assign]

"""The library internals ``app.internals`` relies on, checked on the installed NiceGUI, FastAPI,
starlette and uvicorn: each test fails naming the library, its version and the attribute that moved.

``tests/app/test_fast_path.py`` checks the patches' own logic against stand-ins (the ``OTEL_*``
condition of ``skip_fastapi_telemetry``, what ``open_front_door`` wraps); here the same patches run
against the real objects, and the last test serves a real connection through uvicorn.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any, ClassVar

import httpx
import nicegui.core
import pytest
import uvicorn
from fastapi import FastAPI
from nicegui import app as nicegui_app
from nicegui import ui_run
from nicegui.server import CustomServerConfig
from nicegui.server import Server as NiceGUIServer
from starlette.applications import Starlette
from starlette.types import Message, Receive, Scope, Send
from uvicorn.server import ServerState

from app.api.fast_path import GatewayFastPath
from app.internals import install_fast_lane, open_front_door, same_origin_socket, serve_inherited_socket, skip_fastapi_telemetry
from tests.app.test_fast_path import StandInApi
from tests.factories import wait_until_async

MIDDLEWARE_ATTRIBUTES = ("build_middleware_stack", "middleware_stack")


def moved(library: str, internal: str, what: str) -> str:
    """The failure message: which library (at which version) changed which internal."""
    return f"{library} {version(library)}: {internal} {what}; app.internals relies on it (see its docstring)"


def relied_on(library: str, owner: Any, name: str) -> Any:
    """``owner.name``, or a failure naming the library and the attribute."""
    label = f"{getattr(owner, '__qualname__', type(owner).__qualname__)}.{name}"
    if not hasattr(owner, name):
        pytest.fail(moved(library, label, "is gone"))
    return getattr(owner, name)


def http_scope(path: str) -> Scope:
    return {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
            "headers": [], "scheme": "http", "server": ("hub", 80), "client": ("127.0.0.1", 1), "http_version": "1.1",
            "asgi": {"version": "3.0"}}


async def no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def ignore(message: Message) -> None:
    pass


@pytest.fixture
def nicegui_middleware_untouched() -> Iterator[None]:
    """Put NiceGUI's app object back exactly as it was: its stack and whether the builder is shadowed."""
    saved = {name: vars(nicegui_app)[name] for name in MIDDLEWARE_ATTRIBUTES if name in vars(nicegui_app)}
    yield
    for name in MIDDLEWARE_ATTRIBUTES:
        if name in saved:
            setattr(nicegui_app, name, saved[name])
        else:
            vars(nicegui_app).pop(name, None)


# -- install_fast_lane: starlette's lazily built middleware stack on NiceGUI's app ----------------


def test_nicegui_app_builds_its_middleware_stack_through_a_method_without_arguments() -> None:
    assert isinstance(nicegui_app, Starlette), moved("nicegui", "nicegui.app", "is no starlette app any more")
    relied_on("starlette", nicegui_app, "middleware_stack")
    build = relied_on("starlette", type(nicegui_app), "build_middleware_stack")
    assert list(inspect.signature(build).parameters) == ["self"], moved(
        "starlette", "Starlette.build_middleware_stack", f"takes {inspect.signature(build)}, not (self)")


async def test_the_lane_dispatcher_is_built_on_the_first_request(nicegui_middleware_untouched: None) -> None:
    """The real ``Starlette.__call__`` / ``FastAPI.__call__`` on NiceGUI's app: API paths reach the API
    app, others the console's stack, built once, lazily, by the shadowed ``build_middleware_stack``."""
    console, api = StandInApi(), StandInApi()
    built: list[str] = []

    def build_console_stack() -> StandInApi:
        built.append("console")
        return console

    nicegui_app.build_middleware_stack = build_console_stack  # type: ignore[method-assign]  # NiceGUI's own, in production
    nicegui_app.middleware_stack = None  # not built yet, as when app.server.build runs
    install_fast_lane(api)
    not_built_by_us = moved("starlette", "Starlette.__call__", "no longer builds middleware_stack with self.build_middleware_stack()")
    try:
        for path in ("/api/tokens", "/login", "/v1/models"):
            await nicegui_app(http_scope(path), no_body, ignore)
    except Exception as error:  # a stack other than the dispatcher answered, and choked on the bare scope
        pytest.fail(f"{not_built_by_us} ({error!r})")
    assert api.paths == [("GET", "/api/tokens"), ("GET", "/v1/models")] and console.paths == [("GET", "/login")], not_built_by_us
    assert built == ["console"], moved("starlette", "Starlette.middleware_stack", "is no longer built once and kept")


# -- skip_fastapi_telemetry: FastAPI's private telemetry config -----------------------------------


def test_fastapi_takes_the_telemetry_flags_from_a_dict_the_app_holds() -> None:
    assert "telemetry" in inspect.signature(FastAPI.__init__).parameters, moved("fastapi", "FastAPI(telemetry=...)", "is gone")
    telemetry = relied_on("fastapi", nicegui_app, "_telemetry")
    assert isinstance(telemetry, dict), moved("fastapi", "FastAPI._telemetry", f"is a {type(telemetry).__name__}, not a dict")
    missing = {"tracing", "metrics", "logs", "tracer_provider"} - telemetry.keys()
    assert not missing, moved("fastapi", "FastAPI._telemetry", f"has no {sorted(missing)} keys")
    native = relied_on("fastapi", nicegui_app, "_native_telemetry")
    assert relied_on("fastapi", native, "config") is telemetry, moved(
        "fastapi", "FastAPI._native_telemetry.config", "is no longer the FastAPI._telemetry dict itself, so updating it does nothing")
    assert callable(relied_on("fastapi", native, "enabled"))


def test_skipping_fastapi_telemetry_turns_its_per_request_check_off(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    telemetry = nicegui_app._telemetry
    for flag in ("tracing", "metrics", "logs"):
        monkeypatch.setitem(telemetry, flag, True)
    monkeypatch.setitem(telemetry, "tracer_provider", object())  # someone listening: the check says so
    enabled = nicegui_app._native_telemetry.enabled
    assert enabled(), moved("fastapi", "NativeTelemetry.enabled()", "ignores a configured tracer_provider")
    skip_fastapi_telemetry()
    assert not enabled(), moved("fastapi", "NativeTelemetry.enabled()", "no longer reads the tracing/metrics/logs flags")


# -- open_front_door: NiceGUI's server singleton and uvicorn's loaded_app -------------------------


def test_nicegui_server_instance_is_the_uvicorn_server_ui_run_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    assert issubclass(NiceGUIServer, uvicorn.Server), moved("nicegui", "nicegui.server.Server", "is no uvicorn.Server")
    assert "instance" in NiceGUIServer.__annotations__, moved("nicegui", "nicegui.server.Server.instance", "is gone")
    create_singleton = relied_on("nicegui", NiceGUIServer, "create_singleton")
    assert "Server.create_singleton(" in inspect.getsource(ui_run.run), moved(
        "nicegui", "ui.run", "no longer calls Server.create_singleton")
    monkeypatch.setattr(NiceGUIServer, "instance", None, raising=False)
    config = CustomServerConfig(StandInApi())
    create_singleton(config)
    assert NiceGUIServer.instance.config is config, moved("nicegui", "nicegui.server.Server.instance.config", "is not the config served")


@pytest.mark.parametrize("http", ["auto", "h11"])
async def test_uvicorn_hands_each_new_connection_config_loaded_app(http: str) -> None:
    config = uvicorn.Config(StandInApi(), http=http, ws="wsproto", lifespan="off", log_config=None)  # NiceGUI's ws choice
    config.load()
    loaded_app = relied_on("uvicorn", config, "loaded_app")
    for protocol_class in (config.http_protocol_class, config.ws_protocol_class):
        assert isinstance(protocol_class, type)
        protocol = protocol_class(config=config, server_state=ServerState(), app_state={}, _loop=asyncio.get_running_loop())
        assert relied_on("uvicorn", protocol, "app") is loaded_app, moved(
            "uvicorn", f"{protocol_class.__qualname__}.__init__", "no longer takes config.loaded_app")


class RecordingFrontDoor(GatewayFastPath):
    """``GatewayFastPath`` noting the paths it is handed."""

    paths: ClassVar[list[str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await super().__call__(scope, receive, send)


async def test_the_front_door_is_open_for_the_first_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real uvicorn server whose lifespan start-up hands an async handler to NiceGUI's ``safe_invoke``
    (as NiceGUI's ``App.start`` does with ``app.server._starter``): the handler opens the front door
    before uvicorn listens, so the very first connection meets it."""
    api = StandInApi()
    safe_invoke = relied_on("nicegui", nicegui_app, "safe_invoke")

    async def start() -> None:
        open_front_door()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()  # lifespan.startup
            safe_invoke(start)
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            await send({"type": "lifespan.shutdown.complete"})
        else:
            await api(scope, receive, send)

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_config=None, log_level="warning"))
    monkeypatch.setattr(NiceGUIServer, "instance", server, raising=False)
    monkeypatch.setattr(nicegui.core, "loop", asyncio.get_running_loop())  # set by NiceGUI's own start-up
    monkeypatch.setattr("app.internals.GatewayFastPath", RecordingFrontDoor)
    monkeypatch.setattr(RecordingFrontDoor, "paths", [])
    serving = asyncio.create_task(server.serve())
    try:
        await wait_until_async(lambda: server.started, "uvicorn to start serving")
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"http://127.0.0.1:{port}/health")
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)
    assert answer.status_code == 204 and api.paths == [("GET", "/health")]
    assert RecordingFrontDoor.paths == ["/health"], moved(
        "nicegui", "App.safe_invoke / uvicorn Server.startup", "let the first connection in before the start-up handler ran")


async def test_nicegui_creates_and_registers_a_user_storage_for_a_new_session_id() -> None:
    storage = nicegui_app.storage
    create = relied_on("nicegui", storage, "_create_user_storage")
    assert inspect.iscoroutinefunction(create), moved("nicegui", "Storage._create_user_storage", "is no longer async")
    users = relied_on("nicegui", storage, "_users")
    assert isinstance(users, dict), moved("nicegui", "Storage._users", "is no longer a dict of session id → storage")


def test_the_console_socket_reads_its_allowed_origins_from_the_engine_io_server(monkeypatch: pytest.MonkeyPatch) -> None:
    engine_io = relied_on("python-engineio", relied_on("python-socketio", nicegui.core.sio, "eio"), "cors_allowed_origins")
    assert engine_io == "*", moved("nicegui", "core.sio.eio.cors_allowed_origins", f"is {engine_io!r}, not '*'")
    monkeypatch.setattr(nicegui.core.sio.eio, "cors_allowed_origins", "*")
    same_origin_socket()
    environ = {"wsgi.url_scheme": "http", "HTTP_HOST": "hub:8080", "HTTP_ORIGIN": "https://evil.example"}
    assert nicegui.core.sio.eio._cors_allowed_origins(environ) == ["http://hub:8080"]


# -- serve_inherited_socket: ui.run serves a socket handed down by the --workers parent ----------------


def test_ui_run_serves_through_a_server_run_that_takes_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ui.run`` calls ``Server.instance.run()`` with no sockets, and ``Server.run`` passes the sockets it is
    given on to uvicorn: the patched ``run`` then serves the inherited socket."""
    if "Server.instance.run()" not in inspect.getsource(ui_run.run):
        pytest.fail(moved("nicegui", "ui_run.run", "no longer calls Server.instance.run()"))
    run = relied_on("nicegui", NiceGUIServer, "run")
    if "sockets" not in inspect.signature(run).parameters:
        pytest.fail(moved("nicegui", "Server.run", "takes no sockets"))
    served: list[object] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: served.append(sockets))
    monkeypatch.setattr(NiceGUIServer, "run", NiceGUIServer.run)  # restored after the test
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        serve_inherited_socket(os.dup(listening.fileno()))  # the worker's copy of the parent's descriptor
        NiceGUIServer.run(NiceGUIServer(CustomServerConfig(app=nicegui_app)))
        (inherited,) = served[0]  # type: ignore[misc]
        assert inherited.getsockname() == listening.getsockname() and inherited.family == socket.AF_INET
        inherited.close()

"""Wiring: settings → Hub → API app + console pages + scheduled jobs, all in one NiceGUI process.

The gateway API (``/v1``, ``/api``, ``/health``, ``/metrics``) is its own lean FastAPI app. A tiny
ASGI dispatcher in front of NiceGUI's middleware stack hands those paths straight to it, so API
calls skip the session, gzip and page middlewares that only the console needs. Chat completions
and embeddings, a gateway's traffic, do not even reach NiceGUI's app: the fast path
(``app.api.fast_path``) is the front door of what uvicorn serves (``open_front_door``).
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from nicegui import app as nicegui_app
from nicegui.server import Server as NiceGUIServer
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api import budgets, health, manage, metrics, usage, v1
from app import auth
from app.api.fast_path import GatewayFastPath
from app.api.middleware import RequestIdMiddleware
from app.runtime import set_hub
from app.scheduler import start_scheduler
from app.settings import Settings, SettingsError
from services.errors import GatewayError, UserError
from services.catalog.config_file import apply_config_file
from services.hub import Hub, HubOptions
from services.gateway.router import RetryPolicy

log = logging.getLogger("llmhub")
API_PREFIXES = ("/v1/", "/api/", "/health", "/metrics")


def hub_options(settings: Settings) -> HubOptions:
    return HubOptions(
        data_dir=settings.data_dir,
        master_key=settings.master_key,
        secret_key=settings.secret_key,
        upstream_timeout=settings.upstream_timeout,
        upstream_connect_timeout=settings.upstream_connect_timeout,
        policy=RetryPolicy(
            max_attempts=settings.max_attempts,
            retry_budget=settings.retry_budget,
            cooldown_wait_budget=settings.cooldown_wait_budget,
        ),
        default_cooldown=settings.default_cooldown,
        circuit_threshold=settings.circuit_threshold,
        circuit_open_seconds=settings.circuit_open_seconds,
    )


def build_api_app() -> FastAPI:
    api = FastAPI(
        title="LLM Hub API",
        version="0.1.0",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    api.include_router(v1.router)
    api.include_router(health.router)
    api.include_router(usage.router)
    api.include_router(budgets.router)
    api.include_router(metrics.router)
    manage.install(api)
    api.add_exception_handler(GatewayError, v1.gateway_error_handler)
    api.add_middleware(RequestIdMiddleware)
    return api


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


def skip_fastapi_telemetry() -> None:
    """Spare every request FastAPI's OpenTelemetry check, unless OpenTelemetry is being set up.

    FastAPI asks OpenTelemetry's global providers on each request whether anyone listens (about 40,000
    CPU instructions a gateway call, ~4 % of it, measured with callgrind). LLM Hub sets up no
    OpenTelemetry; when ``OTEL_*`` variables show someone else does (``opentelemetry-instrument``),
    the check stays. NiceGUI builds the app, so FastAPI's ``telemetry=`` option is applied here.
    """
    telemetry = getattr(nicegui_app, "_telemetry", None)
    if isinstance(telemetry, dict) and not any(name.startswith("OTEL_") for name in os.environ):
        telemetry.update(tracing=False, metrics=False, logs=False)


def build(settings: Settings) -> Hub:
    """Everything that can fail on bad configuration happens here, before the server starts."""
    hub = Hub(hub_options(settings))
    if settings.config is not None:
        report = apply_config_file(settings.config, hub=hub)
        log.info("config %s applied: %s", settings.config, report)
    if settings.admin_email and settings.admin_password:
        create_env_admin(hub, settings.admin_email, settings.admin_password)
    set_hub(hub)
    install_fast_lane(build_api_app())
    skip_fastapi_telemetry()
    auth.install()
    import pages  # noqa: F401  (registers the console pages)

    nicegui_app.on_startup(_starter(hub))
    nicegui_app.on_shutdown(hub.stop)
    return hub


def create_env_admin(hub: Hub, email: str, password: str) -> None:
    """The admin named by LLMHUB_ADMIN_EMAIL / LLMHUB_ADMIN_PASSWORD, if that e-mail has no account yet."""
    try:
        if hub.accounts.bootstrap_admin(email, password):
            log.info("admin %s created from LLMHUB_ADMIN_EMAIL", email)
    except UserError as exc:
        raise SettingsError(f"LLMHUB_ADMIN_EMAIL / LLMHUB_ADMIN_PASSWORD: {exc.message}") from None


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


YOUNG_GC_THRESHOLD = 20_000


def _starter(hub: Hub) -> Callable[[], Awaitable[None]]:
    async def start() -> None:
        await hub.start()
        start_scheduler(hub)
        open_front_door()
        freeze_startup_heap()

    return start


def freeze_startup_heap() -> None:
    """Move everything alive after start-up (NiceGUI, SQLAlchemy, the console's modules) out of the
    garbage collector's reach.

    Those objects live as long as the process, yet every full collection walked them all again; in
    one A/B run it took the gateway at 32 concurrent calls from 864 to 1,052 requests/s.

    The young generation's threshold goes up too. At Python's 700 net new containers, 32 calls in
    flight (each with its dicts and attempt trail, plus the usage rows queued for the next batch)
    set off a young collection every ~17 requests, each walking all of them: measured at about
    5 % of the gateway's CPU under load. At 20,000 those objects are nearly all freed by reference
    counting before a collection comes; reference cycles are still collected, just later.
    Only here, once, not in ``Hub.start``: tests start many hubs in one process.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GC_THRESHOLD, *gc.get_threshold()[1:])

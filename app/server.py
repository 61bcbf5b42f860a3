"""Wiring: settings → Hub → API app + console pages + scheduled jobs, all in one NiceGUI process.

The gateway API (``/v1``, ``/api``, ``/health``, ``/metrics``) is its own lean FastAPI app. A tiny
ASGI dispatcher in front of NiceGUI's middleware stack hands those paths straight to it, so API
calls skip the session, gzip and page middlewares that only the console needs. Chat completions
and embeddings, a gateway's traffic, do not even reach NiceGUI's app: the fast path
(``app.api.fast_path``) is the front door of what uvicorn serves (``open_front_door``). Both
shortcuts reach into NiceGUI's, FastAPI's, starlette's and uvicorn's internals, so they live in
``app.internals``, whose docstring lists what each relies on.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from nicegui import app as nicegui_app
from sqlalchemy.engine import make_url

from app import auth
from app.api import accounts, budgets, cache, catalog, errors, health, leaderboard, media, metrics, routing, spec, usage, v1
from app.api.body_limit import BodyLimitMiddleware
from app.api.middleware import RequestIdMiddleware
from app.internals import install_fast_lane, open_front_door, same_origin_socket, skip_fastapi_telemetry
from app.runtime import set_hub
from app.scheduler import start_scheduler
from app.sessions import Lifetimes
from app.settings import Settings, SettingsError
from services.accounts.sessions import any_user_exists
from services.catalog.config_file import apply_config_file
from services.crypto import SECRET_FILE_NAME
from services.db import DATABASE_FILE_NAME, init_schema, make_engine, one_at_a_time, shown_url
from services.errors import GatewayError, UserError
from services.gateway.router import RetryPolicy
from services.gateway.validation import RequestLimits
from services.hub import Hub, HubOptions

log = logging.getLogger("llmhub")


def hub_options(settings: Settings) -> HubOptions:
    return HubOptions(
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        master_key=settings.master_key,
        secret_key=settings.secret_key,
        session_secret=settings.session_secret,
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
        limits=RequestLimits(settings.max_body_bytes, settings.max_messages, settings.max_json_depth,
                             settings.reserved_completion_tokens),
        redis_url=settings.redis_url,
        redis_prefix=settings.redis_prefix,
        worker_index=settings.worker_index,
    )


API_DOCS_URL = "/api/docs"


def build_api_app() -> FastAPI:
    """The API app. Its docs page (Swagger UI at ``/api/docs``) takes its script and styles from ``fastapi_offline``'s
    copy under ``/api/docs-assets``, not from a CDN: it works with no internet. (ReDoc is left out: its bundle still
    loads its own logo from a CDN.)"""
    api = FastAPIOffline(
        title="LLM Hub API",
        version="0.1.0",
        docs_url=API_DOCS_URL,
        redoc_url=None,
        static_url="/api/docs-assets",
        openapi_url="/api/openapi.json",
        swagger_ui_oauth2_redirect_url="/api/docs/oauth2-redirect",
    )
    api.include_router(v1.router)
    api.include_router(media.router)
    api.include_router(health.router)
    api.include_router(usage.router)
    api.include_router(budgets.router)
    api.include_router(metrics.router)
    api.include_router(catalog.router)
    api.include_router(accounts.router)
    api.include_router(leaderboard.router)
    api.include_router(routing.router)
    api.include_router(cache.router)
    errors.install(api)
    spec.install(api)
    api.add_exception_handler(GatewayError, v1.gateway_error_handler)
    api.add_middleware(BodyLimitMiddleware)
    api.add_middleware(RequestIdMiddleware)
    return api


def migrate_database(settings: Settings) -> None:
    """``python run.py --migrate``: bring the database to this release's schema and say what ran."""
    engine = make_engine(settings.database)
    try:
        applied = init_schema(engine)
        log.info("database %s: %s", shown_url(engine), f"migrated through {', '.join(applied)}" if applied else "already up to date")
    finally:
        engine.dispose()


def build(settings: Settings) -> Hub:
    """Everything that can fail on bad configuration happens here, before the server starts."""
    hub = Hub(hub_options(settings))
    if settings.config is not None:
        apply_startup_config(hub, settings.config)
    if settings.admin_email and settings.admin_password:
        create_env_admin(hub, settings.admin_email, settings.admin_password)
    set_hub(hub)
    install_fast_lane(build_api_app())
    skip_fastapi_telemetry()
    auth.install(Lifetimes(settings.session_idle_minutes * 60, settings.session_max_hours * 3600), hub.cluster)
    same_origin_socket()
    import pages  # noqa: F401  (registers the console pages)

    nicegui_app.on_startup(_starter(hub, settings))
    nicegui_app.on_shutdown(hub.stop)
    return hub


def apply_startup_config(hub: Hub, path: Path) -> None:
    """LLMHUB_CONFIG / --config, applied at every start; a LiteLLM file's migration report goes to the log.

    One instance at a time: several started together on one database apply it in turn, the later ones finding
    it applied already. Each then reloads what another may have written (its routes, the master keys)."""
    with one_at_a_time(hub.engine, "config"):
        report = apply_config_file(path, hub=hub)
    hub.reload_routing()
    hub.tokens.invalidate()
    log.info("config %s (%s) applied: %s", path, report.format, report)
    if report.migration is not None:
        log.info("config %s: %s", path, report.migration.summary())
        for outcome, line in report.migration.log_lines():
            log.log(logging.WARNING if outcome in ("skipped", "not supported") else logging.INFO, "config %s: %s", path, line)


def create_env_admin(hub: Hub, email: str, password: str) -> None:
    """The admin named by LLMHUB_ADMIN_EMAIL / LLMHUB_ADMIN_PASSWORD, if that e-mail has no account yet (one
    instance at a time: of several started together, the first creates it, the others find it)."""
    try:
        with one_at_a_time(hub.engine, "admin"):
            created = hub.accounts.bootstrap_admin(email, password)
        if created:
            log.info("admin %s created from LLMHUB_ADMIN_EMAIL", email)
    except UserError as exc:
        raise SettingsError(f"LLMHUB_ADMIN_EMAIL / LLMHUB_ADMIN_PASSWORD: {exc.message}") from None


YOUNG_GC_THRESHOLD = 20_000


def _starter(hub: Hub, settings: Settings) -> Callable[[], Awaitable[None]]:
    async def start() -> None:
        await hub.start()
        start_scheduler(hub)
        open_front_door()
        freeze_startup_heap()
        needs_setup = not await asyncio.to_thread(any_user_exists, hub.engine)
        log.info("%s", ready_message(settings, needs_setup=needs_setup))

    return start


WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def reachable_urls(host: str, port: int) -> list[str]:
    """Where a browser reaches the server: the bound address, or for a wildcard bind this machine's own
    loopback and network addresses (best effort: the host name's IPv4 addresses)."""
    if host not in WILDCARD_HOSTS:
        return [f"http://{f'[{host}]' if ':' in host else host}:{port}"]
    try:
        found = {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    except OSError:
        found = set()
    addresses = ["127.0.0.1", *sorted(found - {"127.0.0.1"})]
    return [f"http://{address}:{port}" for address in addresses]


def ready_message(settings: Settings, *, needs_setup: bool) -> str:
    """The start-up line: where the console, the API and its docs are, and where the data lives."""
    urls = reachable_urls(settings.host, settings.port)
    first = urls[0]
    lines = [
        f"LLM Hub is ready. Console: {', '.join(urls)}",
        f"  OpenAI-compatible API: {first}/v1 · API docs: {first}{API_DOCS_URL}",
        f"  Data: {shown_database(settings)} · provider secrets encrypted with "
        + ("LLMHUB_SECRET_KEY" if settings.secret_key else str((settings.data_dir / SECRET_FILE_NAME).resolve())),
    ]
    if needs_setup:
        lines.append(f"  First visit: open {first}/setup to create the administrator account")
    return "\n".join(lines)


def shown_database(settings: Settings) -> str:
    """Where the data lives, for the start-up line: the SQLite file, or the PostgreSQL URL without its password."""
    if settings.database_url is None:
        return f"{(settings.data_dir / DATABASE_FILE_NAME).resolve()} (SQLite)"
    return make_url(settings.database_url).render_as_string(hide_password=True)


def freeze_startup_heap() -> None:
    """Move everything alive after start-up (NiceGUI, SQLAlchemy, the console's modules) out of the
    garbage collector's reach.

    Those objects live as long as the process, yet every full collection walked them all again, at a
    cost in the gateway's throughput under concurrent calls (``bench/README.md``).

    The young generation's threshold goes up too. At Python's default of 700 net new containers, the
    calls in flight (each with its dicts and attempt trail, plus the usage rows queued for the next
    batch) set off a young collection every few requests, each walking all of them: a measurable
    share of the gateway's CPU under load. At ``YOUNG_GC_THRESHOLD`` those objects are nearly all freed
    by reference counting before a collection comes; reference cycles are still collected, just later.
    Only here, once, not in ``Hub.start``: tests start many hubs in one process.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GC_THRESHOLD, *gc.get_threshold()[1:])

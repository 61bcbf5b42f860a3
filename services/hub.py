"""The running gateway: every long-lived service object, wired once per process.

``Hub`` is built synchronously at start (database, secrets, routing snapshot, key state), then
``start``/``stop`` run inside the event loop (HTTP client, usage writer). Management code calls
``reload_routing`` after any change to providers, keys or models.

With ``redis_url`` the hub is one instance of a cluster (``services.cluster``): key state, token rpm
and budgets are shared, and a catalog or token change here is announced to the others, which reload
their routing or forget their cached tokens on hearing it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from services.accounts.gateway_tokens import GatewayTokens
from services.accounts.service import Accounts
from services.accounts.session_secret import console_session_secret
from services.accounts.tokens import TokenRegistry
from services.cache.service import ResponseCache
from services.catalog.discovery import ModelDiscovery
from services.catalog.service import Catalog
from services.clock import Clock, SystemClock
from services.cluster import Cluster
from services.crypto import SECRET_FILE_NAME, SecretBox
from services.db import DATABASE_FILE_NAME, init_schema, make_engine, session_scope, sqlite_url
from services.errors import SecretKeyError
from services.gateway.adapters.transport import upstream_client
from services.gateway.calls import Gateway
from services.gateway.key_state import KeyStateStore, StateRows
from services.gateway.pricing import PriceTable
from services.gateway.router import RetryPolicy, Router
from services.gateway.routing_table import RoutingTable
from services.gateway.stored_responses import ResponseStore
from services.gateway.token_count import TOKENIZERS
from services.gateway.validation import RequestLimits
from services.tables import DeploymentState, KeyState, ModelRoute, Provider, ProviderCircuit, ProviderKey, RouteState
from services.usage.journal import JOURNAL_FOLDER
from services.usage.recorder import UsageRecorder
from services.usage.replay import ReplayPolicy
from services.usage.settings import announce_settings_writes, note_settings_write_elsewhere

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HubOptions:
    data_dir: Path
    database_url: str | None = field(default=None, repr=False)  # may hold a password
    """``sqlite:///…`` or ``postgresql+psycopg://…``; none: the SQLite file in ``data_dir``."""
    master_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    session_secret: str | None = field(default=None, repr=False)
    """The console's session-signing secret (``LLMHUB_SESSION_SECRET``); none: the one kept in the database."""
    upstream_timeout: float = 60.0
    upstream_connect_timeout: float = 5.0
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    default_cooldown: float = 30.0
    circuit_threshold: int = 5
    circuit_open_seconds: float = 30.0
    limits: RequestLimits = field(default_factory=RequestLimits)
    redis_url: str | None = field(default=None, repr=False)  # may carry a password
    redis_prefix: str = "llmhub:"
    worker_index: int | None = None  # a worker of ``--workers``: its own usage journal in the shared data dir

    @property
    def database(self) -> str:
        return self.database_url or sqlite_url(self.data_dir / DATABASE_FILE_NAME)

    @property
    def journal_dir(self) -> Path:
        """Each worker journals apart (a restarted worker replays its own rows, never a live sibling's)."""
        folder = self.data_dir / JOURNAL_FOLDER
        return folder if self.worker_index is None else folder / f"worker-{self.worker_index}"


class Hub:
    def __init__(self, options: HubOptions, *, clock: Clock | None = None) -> None:
        self.options = options
        self.clock = clock or SystemClock()
        options.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(options.database)
        applied = init_schema(self.engine)
        if applied:
            log.info("database schema migrated through %s", ", ".join(applied))
        self.box = SecretBox.load(options.data_dir, options.secret_key)
        self._check_secret_key()
        self.pricing = PriceTable.load()
        self.states = KeyStateStore(
            self.clock,
            default_cooldown=options.default_cooldown,
            circuit_threshold=options.circuit_threshold,
            circuit_open_seconds=options.circuit_open_seconds,
        )
        self._load_states()
        self.cluster = Cluster(options.redis_url, options.redis_prefix, self.states) if options.redis_url else None
        self.has_users = False  # cached once true: the console stops redirecting to first-run setup
        self.table = RoutingTable.empty()
        self.reload_routing()
        self.catalog = Catalog(self.engine, self.box, self.states, on_change=self._catalog_changed)
        self.client = upstream_client(httpx.Timeout(options.upstream_timeout, connect=options.upstream_connect_timeout))
        self.tokens = TokenRegistry(self.engine, self.clock, options.master_key)
        self.accounts = Accounts(self.engine, self.box, self.clock, on_tokens_changed=self._tokens_changed)
        self.gateway_tokens = GatewayTokens(self.engine, self.clock, on_tokens_changed=self._tokens_changed)
        if self.cluster is not None:
            self._join(self.cluster)
        self.recorder = UsageRecorder(self.engine, journal_dir=options.journal_dir)
        self.router = Router(table=lambda: self.table, states=self.states, client=self.client, clock=self.clock, policy=options.policy,
                             shared_limits=self.cluster.counters if self.cluster is not None else None)
        self.gateway = Gateway(router=self.router, tokens=self.tokens, recorder=self.recorder, pricing=self.pricing, engine=self.engine,
                               limits=options.limits, master_key=options.master_key)
        self.discovery = ModelDiscovery(self.client, lambda: self.table, self.clock.now)
        self.responses = ResponseStore(self.engine)
        self.cache = ResponseCache(self.engine, lambda: self.table, self.gateway, self.clock)

    def _check_secret_key(self) -> None:
        """Refuse to start on stored provider keys this instance's key cannot decrypt: instances on one
        database must share ``LLMHUB_SECRET_KEY``, and a wrong key found now beats every call failing later."""
        with Session(self.engine) as session:
            sample = session.exec(select(ProviderKey.secret_enc).limit(1)).first()
        if sample is None:
            return
        try:
            self.box.decrypt(sample)
        except SecretKeyError:
            used = "LLMHUB_SECRET_KEY" if self.options.secret_key else f"the key in {self.options.data_dir / SECRET_FILE_NAME}"
            raise SecretKeyError(
                f"the provider keys in the database were encrypted with another key than {used}: set LLMHUB_SECRET_KEY "
                "to the key they were stored with (every instance on one database must share it)"
            ) from None

    def session_secret(self) -> str:
        """The console's session-signing secret, the same for every instance on this database (so sign-ins
        survive a restart and hold on every instance)."""
        return console_session_secret(self.engine, self.box, self.options.data_dir, self.options.session_secret)

    def replay_policy(self) -> ReplayPolicy:
        """The router's settings, for the routing what-if to replay calls the way this hub routes them."""
        options = self.options
        return ReplayPolicy(options.policy.max_attempts, options.policy.cooldown_wait_budget, options.default_cooldown,
                            options.circuit_threshold, options.circuit_open_seconds)

    def reload_routing(self) -> None:
        """Swap in a fresh routing snapshot (after any provider, key or model change)."""
        with Session(self.engine) as session:
            self.table = RoutingTable.load(session, self.box)

    def _join(self, cluster: Cluster) -> None:
        self.tokens.shared = cluster.counters
        cluster.feed.on("routing", lambda _data: self.reload_routing())
        cluster.feed.on("tokens", lambda _data: self.tokens.invalidate())
        throttle = self.accounts.throttle
        throttle.on_record = lambda outcome, email, ip: cluster.feed.announce("throttle", [outcome, email, ip])
        cluster.feed.on("throttle", lambda data: throttle.replay(*data))
        self._stop_announcing = announce_settings_writes(lambda: cluster.feed.announce("settings"))
        cluster.feed.on("settings", lambda _data: note_settings_write_elsewhere())

    def _catalog_changed(self) -> None:
        self.reload_routing()
        if self.cluster is not None:
            self.cluster.feed.announce("routing")

    def _tokens_changed(self) -> None:
        self.tokens.invalidate()
        if self.cluster is not None:
            self.cluster.feed.announce("tokens")

    def _load_states(self) -> None:
        with Session(self.engine) as session:
            self.states.load(StateRows(
                list(session.exec(select(KeyState))), list(session.exec(select(DeploymentState))),
                list(session.exec(select(RouteState))), list(session.exec(select(ProviderCircuit))),
            ))

    async def mirror_states(self) -> None:
        """Scheduled job: write changed key, deployment, route and circuit state in a worker thread."""
        rows = self.states.take_dirty()
        if rows:
            await asyncio.to_thread(self._write_state_rows, rows)

    def _write_state_rows(self, rows: StateRows) -> None:
        """Write the rows whose key, route or provider still exists. One deleted between the check and the
        commit fails the write on its foreign key: the rows are checked and written once more."""
        for last_try in (False, True):
            try:
                with session_scope(self.engine) as session:
                    for row in still_owned(session, rows):
                        session.merge(row)
                return
            except IntegrityError:
                if last_try:
                    log.warning("key state not mirrored: its keys or routes kept changing under the write")

    async def start(self) -> None:
        self.recorder.start()
        if self.cluster is not None:
            await self.cluster.start()
        await self.cache.start()
        for routes in self.table.models.values():  # the compare page counts first turns with these
            for route in routes:
                TOKENIZERS.encoding(route.upstream_model)

    async def stop(self) -> None:
        await self.cache.stop()
        await self.recorder.stop()
        await self.responses.settle()
        await self.mirror_states()
        if self.cluster is not None:
            self._stop_announcing()
            await self.cluster.stop()
        await self.client.aclose()
        self.engine.dispose()


def still_owned(session: Session, rows: StateRows) -> list[SQLModel]:
    """The state rows whose key, route and provider are still in the database."""
    key_ids = {r.key_id for r in rows.keys} | {r.key_id for r in rows.deployments} | {r.key_id for r in rows.routes}
    keys = _existing(session, ProviderKey, key_ids)
    routes = _existing(session, ModelRoute, {r.route_id for r in rows.routes})
    providers = _existing(session, Provider, {r.provider_id for r in rows.circuits})
    return [
        *(r for r in rows.keys if r.key_id in keys),
        *(r for r in rows.deployments if r.key_id in keys),
        *(r for r in rows.routes if r.key_id in keys and r.route_id in routes),
        *(r for r in rows.circuits if r.provider_id in providers),
    ]


def _existing(session: Session, table: type[ProviderKey] | type[ModelRoute] | type[Provider], ids: set[int]) -> set[int]:
    if not ids:
        return set()
    return {found for found in session.exec(select(table.id).where(col(table.id).in_(ids))) if found is not None}

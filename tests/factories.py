"""What many tests build, in one place: who acts in them, a hand-moved clock, hubs (in process or as a
subprocess) whose catalog is a YAML text pointed at the upstream emulator, a user with a gateway token,
a seeded usage table, and the one way to wait for something that happens in the background.

Waiting: ``wait_until`` (and ``wait_until_async`` inside an event loop) polls a probe until it gives
a truthy value or ``PATIENCE_S`` has passed, then fails the test saying what did not happen. There is
no other timeout policy and no fixed sleep in the tests; ``wait_for_usage`` is built on it.

Config texts: a YAML string whose ``{url}`` is the emulator's address (and any other ``{name}`` a
keyword argument), so literal braces in flow-style YAML are written ``{{ }}``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from services.accounts.audit import Actor
from services.accounts.tokens import Principal, issue_token
from services.catalog.config_file import apply_config_text
from services.db import init_schema, make_engine
from services.hub import Hub, HubOptions
from services.tables import GatewayToken, Provider, ProviderKey, User
from services.usage.recorder import UsageRecorder
from tests import databases
from tests.conftest import RunningApp, start_app

if TYPE_CHECKING:
    from tests.upstream_emulator import EmulatorHandle

T = TypeVar("T")
M = TypeVar("M", bound=SQLModel)

# -- who acts, and when ------------------------------------------------------------------------------

TEST_ACTOR = Actor(None, "test")
"""The acting principal of a test's catalog, account, budget or setting change (audited like any other)."""

MASTER_PRINCIPAL = Principal(user_id=None, role="admin")
"""Whom the gateway serves when a call carries the master key: an admin that is nobody in particular."""

CLOCK_START = 1_800_000_000.0


@dataclass
class FakeClock:
    """A clock that moves only when told: ``clock.t += seconds``, or a ``sleep`` (which it notes in ``slept``)."""

    t: float = CLOCK_START
    slept: list[float] = field(default_factory=list)

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


# -- waiting for what happens in the background ----------------------------------------------------

PATIENCE_S = 60.0  # an upper bound only: a busy 2-core machine starts a hub process in ~15 s
"""How long anything is waited for: generous, because CI machines are slower and busier than ours.
A condition that holds ends the wait at once, so a passing test never pays for it."""
POLL_S = 0.05


def _gave_up(what: str, last: object) -> str:
    return f"gave up after {PATIENCE_S:g} s waiting for {what} (last seen: {last!r})"


def wait_until(probe: Callable[[], T], what: str) -> T:
    """Call ``probe`` until it returns something truthy and return that; fail the test after ``PATIENCE_S``."""
    deadline = time.monotonic() + PATIENCE_S
    while not (value := probe()):
        if time.monotonic() > deadline:
            pytest.fail(_gave_up(what, value), pytrace=False)
        time.sleep(POLL_S)
    return value


async def wait_until_async(probe: Callable[[], T], what: str) -> T:
    """``wait_until`` for a test running on the event loop: the loop (and what the test waits for) runs between probes."""
    deadline = time.monotonic() + PATIENCE_S
    while not (value := probe()):
        if time.monotonic() > deadline:
            pytest.fail(_gave_up(what, value), pytrace=False)
        await asyncio.sleep(POLL_S)
    return value


def wait_for_usage(app: RunningApp, *, count: int = 1, **filters: object) -> list[dict[str, Any]]:
    """The usage records of a running hub (newest first, as ``GET /api/usage`` lists them, read with the
    master key) once at least ``count`` of them match ``filters`` (query parameters such as ``request_id``).
    The gateway writes usage in background batches, so a record shows up a moment after its call."""
    with app.client() as admin:

        def enough() -> list[dict[str, Any]] | None:
            response = admin.get("/api/usage", params={"limit": 1000, **filters})
            assert response.status_code == 200, response.text
            rows: list[dict[str, Any]] = response.json()["data"]
            return rows if len(rows) >= count else None

        return wait_until(enough, f"{count} usage record(s) matching {filters or 'anything'}")


# -- hubs ----------------------------------------------------------------------------------------------


def emulator_config(config: str, emulator: EmulatorHandle, **fields: object) -> str:
    """``config`` with ``{url}`` the emulator's address and the other ``{fields}`` filled in."""
    return config.format(url=emulator.url, **fields)


@contextmanager
def local_hub(data_dir: Path, *, database_url: str | None = None, **options: Any) -> Iterator[Hub]:
    """A bare in-process Hub (empty catalog, no background work) on ``data_dir`` and the test's database (emptied;
    ``database_url`` names another), for catalog and account tests; ``options`` go to ``Hub`` (e.g. ``clock``).
    Its database engine is disposed afterwards."""
    hub = Hub(HubOptions(data_dir=data_dir, database_url=database_url or databases.CURRENT.fresh()), **options)
    try:
        yield hub
    finally:
        hub.engine.dispose()


@asynccontextmanager
async def emulated_hub(data_dir: Path, emulator: EmulatorHandle, config: str | None = None, *, master_key: str | None = None,
                       start: bool = False, **fields: object) -> AsyncIterator[Hub]:
    """An in-process Hub on ``data_dir`` whose catalog is ``config`` (see ``emulator_config``; none: empty),
    for tests that call upstream. ``start`` runs its usage writer (otherwise tests flush the recorder
    themselves); ``master_key`` lets the token registry accept that key. Stopped afterwards: usage
    flushed, upstream pool closed, engine disposed."""
    hub = Hub(HubOptions(data_dir=data_dir, database_url=databases.CURRENT.fresh(), master_key=master_key))
    try:
        if config is not None:
            apply_config_text(emulator_config(config, emulator, **fields), catalog=hub.catalog, source="test", actor=TEST_ACTOR)
        if start:
            await hub.start()
        yield hub
    finally:
        await hub.stop()


@contextmanager
def hub_process(folder: Path, config: str | None = None, emulator: EmulatorHandle | None = None, *, env: dict[str, str] | None = None,
                **fields: object) -> Iterator[RunningApp]:
    """LLM Hub as a subprocess with its data in ``folder/data`` and, given ``config`` and ``emulator``, that
    catalog (see ``emulator_config``) written to ``folder/llmhub.yaml`` and applied at start-up. Stopped afterwards."""
    path = None
    if config is not None:
        assert emulator is not None, "a config text is pointed at the emulator: pass it too"
        path = folder / "llmhub.yaml"
        path.write_text(emulator_config(config, emulator, **fields))
    databases.CURRENT.fresh()
    app = start_app(folder / "data", config=path, env=env)
    try:
        yield app
    finally:
        app.stop()


# -- people --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenHolder:
    """A user created through ``/api`` and the raw gateway token issued to them."""

    id: int
    email: str
    token: str


def user_with_token(app: RunningApp, email: str, password: str, token_name: str) -> TokenHolder:
    """A user of a running hub with one gateway token, both created by the admin API (master key)."""
    with app.client() as admin:
        user = admin.post("/api/users", json={"email": email, "password": password})
        assert user.status_code == 201, user.text
        token = admin.post("/api/tokens", json={"name": token_name, "user_email": email})
        assert token.status_code == 201, token.text
    return TokenHolder(user.json()["id"], email, token.json()["token"])


def rows_of(hub: Hub, table: type[M]) -> list[M]:
    """Every row of a table in an in-process hub's database, in id order."""
    with Session(hub.engine) as session:
        return list(session.exec(select(table)))


def add_person(hub: Hub, email: str) -> int:
    """A user row (no password: they only call the gateway) in an in-process hub; returns its id."""
    with Session(hub.engine) as session:
        user = User(email=email)
        session.add(user)
        session.commit()
        return user.id or 0


def gateway_principal(hub: Hub, user_id: int, name: str, budget_micros: int | None = None) -> Principal:
    """A fresh gateway token of ``user_id`` (with an optional monthly budget), as the gateway sees it once authenticated."""
    with Session(hub.engine) as session:
        raw = issue_token(session=session, user_id=user_id, name=name, monthly_budget_micros=budget_micros).raw
        session.commit()
    return hub.tokens.authenticate(raw)


# -- a seeded usage table (no hub: a fresh database, people and keys, rows through the real recorder) ------

NOW = datetime(2026, 11, 14, 12, 30, tzinfo=UTC)
"""The moment the seeded usage rows are written at (unless a row says otherwise)."""
_request_ids = itertools.count(1)


def fresh_engine(tmp_path: Path) -> Engine:
    """An engine on an empty database at this release's schema: a SQLite file in ``tmp_path``, or the test
    module's PostgreSQL database, emptied (``tests.databases``)."""
    databases.CURRENT.fresh()
    engine = make_engine(databases.CURRENT.url_for(tmp_path, "usage.db"))
    init_schema(engine)
    return engine


def open_database(data_dir: Path) -> Engine:
    """An engine on the database of the hub (a subprocess) whose data dir is ``data_dir``, as it is: nothing emptied."""
    return make_engine(databases.CURRENT.url_for(data_dir))


def add_people(engine: Engine) -> dict[str, int]:
    """Two users with a token each, one provider with two keys; returns their ids by name."""
    with Session(engine) as session:
        ann = User(email="ann@example.com", role="admin")
        bob = User(email="bob@example.com")
        provider = Provider(name="emu", kind="openai", base_url="http://emu/v1")
        session.add_all([ann, bob, provider])
        session.flush()
        ann_token = GatewayToken(user_id=ann.id or 0, name="ann-laptop", token_hash="a" * 64, token_last4="AAAA",
                                 monthly_budget_micros=10_000_000)
        bob_token = GatewayToken(user_id=bob.id or 0, name="bob-ci", token_hash="b" * 64, token_last4="BBBB",
                                 monthly_budget_micros=1_000_000)
        primary = ProviderKey(provider_id=provider.id or 0, label="primary", secret_enc="x", secret_last4="1234", daily_tokens=1000)
        backup = ProviderKey(provider_id=provider.id or 0, label="backup", secret_enc="y", secret_last4="5678",
                             monthly_usd_micros=2_000_000)
        session.add_all([ann_token, bob_token, primary, backup])
        session.commit()
        return {"ann": ann.id or 0, "bob": bob.id or 0, "ann_token": ann_token.id or 0, "bob_token": bob_token.id or 0,
                "primary": primary.id or 0, "backup": backup.id or 0, "provider": provider.id or 0}


def usage_row(**overrides: Any) -> dict[str, Any]:
    """A usage row as the gateway queues it (served by emu/primary unless overridden)."""
    row: dict[str, Any] = {
        "created_at": NOW, "request_id": f"req_{next(_request_ids):06d}", "source": "api", "token_id": None, "user_id": None,
        "endpoint": "chat", "requested_model": "smart", "provider_id": 1, "provider_name": "emu", "upstream_model": "gpt-4o",
        "key_id": 1, "status": "ok", "http_status": 200, "error_code": None, "prompt_tokens": 10, "completion_tokens": 5,
        "cost_micros": 100, "latency_ms": 200.0, "ttft_ms": None, "overhead_ms": 1.0, "stream": False,
        "attempts": [{"provider": "emu", "model": "gpt-4o", "key_id": 1, "key_label": "primary", "outcome": "served", "ms": 190.0}],
    }
    row.update(overrides)
    return row


def write_rows(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Queue and flush through the recorder (a sync helper for sync tests)."""
    recorder = UsageRecorder(engine)
    for row in rows:
        recorder.record(row)
    asyncio.run(recorder.flush())

"""The databases tests run on: SQLite (a file in the test's folder) and PostgreSQL (a scratch database).

PostgreSQL is the server at ``LLMHUB_TEST_POSTGRES`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``,
the maintenance database this project's machines and CI have). Each test module that runs on it gets a
database of its own, ``llmhub_test_<hex>``, created when the module starts and dropped ``WITH (FORCE)`` when it
ends; between tests its tables are emptied (``reset``), which costs far less than migrating a new one.

When the server is not there, PostgreSQL tests skip saying so; under ``CI=true`` they fail instead, because CI
has the server and a skip there would hide a broken one.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel

from services.db import sqlite_url  # (importing services.db registers every table on SQLModel.metadata)

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
BACKENDS = (SQLITE, POSTGRESQL)
SERVER = make_url(os.environ.get("LLMHUB_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
KEPT_TABLES = {"alembic_version", "schemaversion"}
"""What ``reset`` leaves: the migration state, so the next hub finds the schema at its revision."""


def _maintenance_engine() -> Engine:
    return create_engine(SERVER, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0, connect_args={"connect_timeout": 3})


def postgres_or_skip() -> None:
    """Skip the test when the PostgreSQL server does not answer; fail under ``CI=true``."""
    engine = _maintenance_engine()
    try:
        with engine.connect():
            return
    except OperationalError as exc:
        reason = f"PostgreSQL is not running at {SERVER.render_as_string(hide_password=True)} ({type(exc.orig).__name__})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: CI must run the PostgreSQL tests", pytrace=False)
        pytest.skip(reason)
    finally:
        engine.dispose()


@contextmanager
def scratch_postgres() -> Iterator[URL]:
    """A new, empty PostgreSQL database on ``SERVER`` for the duration of the block."""
    name = f"llmhub_test_{secrets.token_hex(6)}"
    admin = _maintenance_engine()
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield SERVER.set(database=name)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def reset(url: URL) -> None:
    """Empty every table of the database but the migration state, and restart its ids: ``DELETE`` in the
    order foreign keys allow, which on a test's few rows costs a fraction of a ``TRUNCATE`` of every table."""
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        with engine.begin() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return  # not migrated yet: empty
            for table in reversed(SQLModel.metadata.sorted_tables):
                if table.name not in KEPT_TABLES:
                    connection.execute(table.delete())
            connection.execute(text("SELECT setval(oid, 1, false) FROM pg_class WHERE relkind = 'S'"))
    finally:
        engine.dispose()


@dataclass
class DatabaseUnderTest:
    """The database the current test's hubs and engines open: ``url`` for one on PostgreSQL, none for SQLite
    (each hub then opens the SQLite file in its own data dir, as in production)."""

    backend: str = SQLITE
    url: URL | None = None

    def url_for(self, folder: Path, file_name: str = "llmhub.db") -> str:
        """The database of something kept in ``folder``: the shared PostgreSQL one, or a SQLite file there."""
        return self.url.render_as_string(hide_password=False) if self.url is not None else sqlite_url(folder / file_name)

    def hub_url(self) -> str | None:
        """``HubOptions.database_url``: the PostgreSQL URL, or none for the SQLite file in the hub's data dir."""
        return self.url.render_as_string(hide_password=False) if self.url is not None else None

    def env(self) -> dict[str, str]:
        """The environment that points a hub subprocess at this database (nothing for SQLite: its data dir's file)."""
        url = self.hub_url()
        return {"LLMHUB_DATABASE_URL": url} if url is not None else {}

    def fresh(self) -> str | None:
        """``hub_url`` of an empty database: on PostgreSQL the module's database, emptied (each hub or engine a
        test makes starts from nothing, as it does with a SQLite file in a new folder)."""
        if self.url is not None:
            reset(self.url)
        return self.hub_url()


@contextmanager
def test_database(backend: str) -> Iterator[DatabaseUnderTest]:
    """``CURRENT`` set to a database of ``backend`` for the block (PostgreSQL: a scratch database), restored after."""
    global CURRENT
    previous = CURRENT
    if backend == SQLITE:
        CURRENT = DatabaseUnderTest()
        try:
            yield CURRENT
        finally:
            CURRENT = previous
        return
    postgres_or_skip()
    with scratch_postgres() as url:
        CURRENT = DatabaseUnderTest(POSTGRESQL, url)
        try:
            yield CURRENT
        finally:
            CURRENT = previous


CURRENT = DatabaseUnderTest()
"""Set by the ``database`` fixtures (``tests/conftest.py``) for the test that runs; read by ``tests.factories``."""


@pytest.fixture(scope="module", autouse=True)
def on_each_database(database_backend: DatabaseUnderTest) -> DatabaseUnderTest:
    """Imported by a domain's conftest, it runs that whole suite on both databases (``database_backend``)."""
    return database_backend

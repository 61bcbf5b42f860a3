"""Engine and sessions on SQLite (the default: one file, WAL mode, a busy timeout) or PostgreSQL
(``postgresql+psycopg://…``: several instances on one database); the schema migrated at start
(``services.migrations``).

What differs between the two databases is decided in one place each, here (``insert_unless_present``,
``insert_rows``, ``one_at_a_time``) or next to the one query that needs it (``is_postgresql``)."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import orjson
from filelock import FileLock
from pydantic import Field
from sqlalchemy import Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Dialect, Engine, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session, create_engine, select

import services.compare.tables  # noqa: F401  (registers its tables before create_all)
from services.errors import StartupError
from services.migrations import migrate
from services.tables import SchemaVersion

MAX_ROW_ID = 2**63 - 1  # the largest INTEGER SQLite (and a BIGINT) holds: a larger id overflows the driver
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
"""A row id as an input: a larger or non-positive number names no row (and must not reach the driver)."""


POSTGRES_POOL_SIZE = 10
"""Connections each instance keeps open to PostgreSQL: the usage writer, the scheduled jobs, the
console's pages and the API's management calls; twice as many may open for a burst."""
SUPPORTED_DATABASES = "sqlite:///<file> or postgresql+psycopg://<user>@<host>/<database>"


DATABASE_FILE_NAME = "llmhub.db"
"""The SQLite file in the data dir: the database unless a URL names another."""


def sqlite_url(database_path: Path) -> str:
    return f"sqlite:///{database_path}"


def database_url(database: str | Path) -> URL:
    """The SQLAlchemy URL of ``database`` (a SQLite file's path, or a URL); PostgreSQL always through
    psycopg 3 (``postgres://`` and ``postgresql://`` name it too). Anything else is refused."""
    if isinstance(database, Path):
        return make_url(sqlite_url(database))
    try:
        url = make_url(database)
    except ArgumentError:
        raise StartupError(f"not a database URL: use {SUPPORTED_DATABASES}") from None
    backend, _, driver = url.drivername.partition("+")
    if backend in ("postgres", "postgresql") and driver in ("psycopg", "psycopg2", ""):
        return url.set(drivername="postgresql+psycopg")
    if url.drivername == "sqlite" and url.database:
        return url
    raise StartupError(f"unsupported database {url.drivername!r}: use {SUPPORTED_DATABASES}")


def is_postgresql(bind: Engine | Connection | Dialect) -> bool:
    dialect = bind if isinstance(bind, Dialect) else bind.dialect
    return dialect.name == "postgresql"


def make_engine(database: str | Path) -> Engine:
    """An engine on ``database``: a SQLite file's path or URL (the folder is created), or a PostgreSQL URL."""
    url = database_url(database)
    if url.drivername == "postgresql+psycopg":
        return create_engine(url, pool_size=POSTGRES_POOL_SIZE, max_overflow=POSTGRES_POOL_SIZE, pool_pre_ping=True,
                             pool_recycle=1800, json_serializer=json_text)
    Path(url.database or "").parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, json_serializer=json_text)
    event.listen(engine, "connect", _configure_sqlite)
    return engine


def insert_unless_present(bind: Engine | Connection, table: Table) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` on ``table`` in the bind's dialect: a row another instance may be
    inserting at the same moment is written once, and neither fails."""
    if is_postgresql(bind):
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def shown_url(engine: Engine) -> str:
    """The engine's database for a log line or a message: never its password."""
    return engine.url.render_as_string(hide_password=True)


def json_text(value: Any) -> str:
    """JSON columns are written with orjson: faster than ``json.dumps`` for the usage
    records' attempt trails, and read back the same."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _configure_sqlite(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def init_schema(engine: Engine) -> list[str]:
    """Bring the database to this release's schema (``services.migrations``); the revisions applied.
    One instance at a time: another starting at the same moment waits, then finds nothing left to do.
    A database that cannot be reached stops the start with a ``StartupError`` naming it (never its password)."""
    try:
        with one_at_a_time(engine, "migrate"):
            return migrate(engine)
    except OperationalError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise StartupError(f"cannot open the database {shown_url(engine)}: {reason}") from None


@contextmanager
def one_at_a_time(engine: Engine, purpose: str) -> Iterator[None]:
    """Run the block in one process at a time of all those on this database (instances started together by
    compose, ``--workers``): migrating, applying the YAML config at start.

    PostgreSQL: a session-level advisory lock, numbered after ``purpose``, on a connection of its own (it
    goes away with that connection if the process dies). SQLite: a lock file beside the database (the file's
    own locks are SQLite's: a second descriptor on it would release them when closed)."""
    if is_postgresql(engine):
        number = zlib.crc32(f"llmhub:{purpose}".encode())
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("SELECT pg_advisory_lock(:number)"), {"number": number})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:number)"), {"number": number})
        return
    with FileLock(f"{engine.url.database}.{purpose}.lock", mode=0o600):
        yield


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error: nothing half-written."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def database_ok(engine: Engine) -> bool:
    try:
        with Session(engine) as session:
            session.exec(select(SchemaVersion)).first()
        return True
    except Exception:
        return False


@dataclass(frozen=True, slots=True)
class _InsertPlan:
    """One table's ``INSERT`` through the driver: the SQL, the columns' defaults, and the bind
    processors of the columns whose type has one (so the stored form is the one SQLAlchemy writes)."""

    sql: str
    names: tuple[str, ...]
    defaults: tuple[Callable[[], Any], ...]  # one per name
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]

    def values(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        try:
            values = [row[name] for name in self.names]
        except KeyError:
            values = [row[name] if name in row else default() for name, default in zip(self.names, self.defaults, strict=True)]
        for index, process in self.processors:
            values[index] = process(values[index])
        return tuple(values)


def placeholder(dialect: Dialect) -> str:
    """The driver's parameter marker, for SQL handed straight to it."""
    return "?" if dialect.paramstyle == "qmark" else "%s"


def _column_default(column: Any) -> Callable[[], Any]:
    default = column.default
    if default is None:
        return lambda: None
    if default.is_callable:
        return lambda: default.arg(None)
    return lambda: default.arg


@lru_cache(maxsize=16)
def _insert_plan(table: Table, dialect: Dialect) -> _InsertPlan:
    columns = [column for column in table.columns if not (column.primary_key and column.autoincrement in (True, "auto"))]
    sql = f"INSERT INTO {table.name} ({', '.join(c.name for c in columns)}) VALUES ({', '.join([placeholder(dialect)] * len(columns))})"
    processors = ((index, c.type.dialect_impl(dialect).bind_processor(dialect)) for index, c in enumerate(columns))
    return _InsertPlan(
        sql,
        tuple(c.name for c in columns),
        tuple(_column_default(c) for c in columns),
        tuple((index, process) for index, process in processors if process is not None),
    )


def insert_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert plain dict rows in one bulk statement (inside the caller's transaction): SQLite through one
    driver ``executemany``, PostgreSQL through ``COPY … FROM STDIN``, its fastest way in for a batch.

    The ORM's bulk insert spends much of each row's time on bookkeeping (parameter sets, ORM events) that
    a log table does not need; this spends what the column types' own bind processors cost, so a
    row stored here reads back exactly like one the ORM wrote. Missing keys take the column default.
    """
    if not rows:
        return
    plan = _insert_plan(table, connection.dialect)
    values = [plan.values(row) for row in rows]
    if is_postgresql(connection):
        _copy_rows(connection, table.name, plan.names, values)
    else:
        connection.exec_driver_sql(plan.sql, values)


def _copy_rows(connection: Connection, table_name: str, names: Sequence[str], values: Sequence[Sequence[Any]]) -> None:
    """``COPY`` on the psycopg connection under ``connection``, in its open transaction."""
    driver_connection: Any = connection.connection.driver_connection
    with driver_connection.cursor() as cursor, cursor.copy(f"COPY {table_name} ({', '.join(names)}) FROM STDIN") as copy:
        for row in values:
            copy.write_row(row)

"""Engine and sessions: SQLite in WAL mode with a busy timeout; the schema migrated at start (``services.migrations``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import orjson
from pydantic import Field
from sqlalchemy import Table, event
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session, create_engine, select

import services.compare.tables  # noqa: F401  (registers its tables before create_all)
from services.migrations import migrate
from services.tables import SchemaVersion

MAX_ROW_ID = 2**63 - 1  # the largest INTEGER SQLite (and a BIGINT) holds: a larger id overflows the driver
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
"""A row id as an input: a larger or non-positive number names no row (and must not reach the driver)."""


def make_engine(database_path: Path) -> Engine:
    database_path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///{database_path}",
        connect_args={"check_same_thread": False, "timeout": 30},
        json_serializer=json_text,
    )
    event.listen(engine, "connect", _configure_sqlite)
    return engine


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
    """Bring the database to this release's schema (``services.migrations``); the revisions applied."""
    return migrate(engine)


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
    """Insert plain dict rows with one driver ``executemany`` (inside the caller's transaction).

    The ORM's bulk insert spends much of each row's time on bookkeeping (parameter sets, ORM events) that
    a log table does not need; this spends what the column types' own bind processors cost, so a
    row stored here reads back exactly like one the ORM wrote. Missing keys take the column default.
    """
    if rows:
        plan = _insert_plan(table, connection.dialect)
        connection.exec_driver_sql(plan.sql, [plan.values(row) for row in rows])

"""The usage writer's bulk insert on SQLite and PostgreSQL: rows per second.

    python bench/usage_writer.py [--rows 50000] [--batch 500]

Each database gets a fresh, migrated schema (SQLite: a file in a temporary folder; PostgreSQL: a scratch
database on ``LLMHUB_TEST_POSTGRES``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``, dropped
afterwards) and the same rows, in batches of the recorder's size, three ways:

* ``executemany``: the rows through the driver's ``executemany`` of one ``INSERT`` (psycopg 3 pipelines it);
* ``insert_rows``: ``services.db.insert_rows``, what the recorder calls (SQLite: that same ``executemany``;
  PostgreSQL: ``COPY … FROM STDIN``);
* ``recorder batch``: ``UsageRecorder.write_batch``, the whole transaction the writer commits (the rows, their
  hourly and daily rollups, the tokens' last use).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy.engine import Engine  # noqa: E402

from services.db import _insert_plan, init_schema, insert_rows, make_engine, sqlite_url  # noqa: E402
from services.usage.recorder import UsageRecorder  # noqa: E402
from services.usage.tables import USAGE_RECORD  # noqa: E402
from tests.databases import scratch_postgres  # noqa: E402
from tests.factories import usage_row  # noqa: E402

START = datetime(2026, 11, 1, tzinfo=UTC)


def rows(count: int) -> list[dict[str, Any]]:
    """Rows as the gateway queues them, a second apart, spread over three models and two statuses."""
    return [usage_row(created_at=START + timedelta(seconds=n), requested_model=("smart", "fast", "cheap")[n % 3],
                      status="error" if n % 31 == 0 else "ok") for n in range(count)]


def executemany(engine: Engine, batch: list[dict[str, Any]]) -> None:
    with engine.begin() as connection:
        plan = _insert_plan(USAGE_RECORD, connection.dialect)
        connection.exec_driver_sql(plan.sql, [plan.values(row) for row in batch])


def bulk(engine: Engine, batch: list[dict[str, Any]]) -> None:
    with engine.begin() as connection:
        insert_rows(connection, USAGE_RECORD, batch)


def recorder_batch(engine: Engine, batch: list[dict[str, Any]]) -> None:
    UsageRecorder(engine).write_batch(batch)


WAYS: dict[str, Callable[[Engine, list[dict[str, Any]]], None]] = {
    "executemany": executemany, "insert_rows": bulk, "recorder batch": recorder_batch,
}


def rate(url: str, way: Callable[[Engine, list[dict[str, Any]]], None], data: list[dict[str, Any]], batch: int) -> float:
    """Rows per second of ``way`` writing ``data`` in batches into a fresh table."""
    engine = make_engine(url)
    try:
        init_schema(engine)
        with engine.begin() as connection:
            connection.execute(USAGE_RECORD.delete())
        started = time.perf_counter()
        for low in range(0, len(data), batch):
            way(engine, data[low:low + batch])
        return len(data) / (time.perf_counter() - started)
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500, help="rows per transaction (the recorder's batch size)")
    args = parser.parse_args()
    data = rows(args.rows)
    results: list[tuple[str, str, float]] = []
    with tempfile.TemporaryDirectory() as folder:
        for name, way in WAYS.items():
            results.append(("SQLite", name, rate(sqlite_url(Path(folder) / f"{name}.db"), way, data, args.batch)))
    with scratch_postgres() as url:
        for name, way in WAYS.items():
            results.append(("PostgreSQL", name, rate(url.render_as_string(hide_password=False), way, data, args.batch)))
    print(f"{args.rows:,} usage rows in batches of {args.batch}\n")
    print(f"| {'database':<10} | {'path':<14} | {'rows/s':>9} | {'µs/row':>7} |")
    print(f"|{'-' * 12}|{'-' * 16}|{'-' * 11}|{'-' * 9}|")
    for database, name, per_second in results:
        print(f"| {database:<10} | {name:<14} | {per_second:>9,.0f} | {1e6 / per_second:>7.1f} |")


if __name__ == "__main__":
    main()

"""Hourly and daily rollups of usage records, kept by the recorder in the same transaction as the raw rows.

A batch of raw rows is first summed in Python per rollup key, then upserted (``INSERT … ON CONFLICT
DO UPDATE SET n = n + excluded.n``), so every counter is additive and a batch is one statement per
table. Charts and budgets read these tables, never the raw rows, so pruning raw rows leaves them as
they were.

Latency percentiles come from a fixed histogram: bucket 0 holds latencies under 1 ms, bucket i
(1 … 38) holds [2^((i-1)/2), 2^(i/2)) ms, bucket 39 everything from 2^19 ms (~9 min) up. Within a
bucket the percentile is interpolated geometrically, which keeps p50/p95 within a few percent for
realistic spreads (the worst case is the √2 bucket width).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from services.db import placeholder
from services.tables import (
    ATTEMPT_ROLLUP_DAY,
    ATTEMPT_ROLLUP_HOUR,
    LATENCY_BUCKETS,
    USAGE_ROLLUP_DAY,
    USAGE_ROLLUP_HOUR,
    AppSetting,
)
from services.usage.tables import APP_SETTING, USAGE_RECORD

HOUR = 3600
DAY = 86400
ROLLUP_VERSION = 1
ROLLUP_SETTING = "usage_rollups_version"
REBUILD_BATCH = 20_000
KEY_COLUMNS = ("bucket", "user_id", "token_id", "provider", "key_id", "model")
USAGE_KEY_COLUMNS = (*KEY_COLUMNS, "status")
LATENCY_COLUMNS = tuple(f"lat_{i}" for i in range(LATENCY_BUCKETS))
USAGE_TABLES: dict[int, Table] = {HOUR: USAGE_ROLLUP_HOUR, DAY: USAGE_ROLLUP_DAY}
ATTEMPT_TABLES: dict[int, Table] = {HOUR: ATTEMPT_ROLLUP_HOUR, DAY: ATTEMPT_ROLLUP_DAY}

Row = Mapping[str, Any]


# -- the latency histogram -----------------------------------------------------------------------


def latency_bucket(ms: float) -> int:
    if ms < 1:
        return 0
    return min(LATENCY_BUCKETS - 1, math.floor(2 * math.log2(ms)) + 1)


def bucket_edges(index: int) -> tuple[float, float]:
    """[low, high) of a histogram bucket in milliseconds (the last one's high is its low)."""
    if index == 0:
        return 0.0, 1.0
    low = 2 ** ((index - 1) / 2)
    return low, (low if index == LATENCY_BUCKETS - 1 else 2 ** (index / 2))


def percentile(histogram: Sequence[int | float | None], q: float) -> float | None:
    """The q-quantile (0 < q < 1) of a latency histogram in ms; None when it is empty."""
    counts = [int(c or 0) for c in histogram]
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            low, high = bucket_edges(index)
            share = (rank - seen) / count
            if index == 0:
                return low + (high - low) * share
            return low * math.pow(high / low, share)
        seen += count
    return bucket_edges(LATENCY_BUCKETS - 1)[0]


# -- one batch of raw rows → rollup deltas ---------------------------------------------------
# Sums are lists in the column order of USAGE_COUNTERS / ATTEMPT_COUNTERS (fast to add up), keyed
# by a tuple in the order of USAGE_KEY_COLUMNS / KEY_COLUMNS. Hourly sums are built from the rows,
# daily sums from the hourly ones.

USAGE_COUNTERS = ("requests", "errors", "prompt_tokens", "completion_tokens", "cost_micros", "cost_unknown", "ttft_count",
                  "latency_ms_sum", "ttft_ms_sum", *LATENCY_COLUMNS)
ATTEMPT_COUNTERS = ("tried", "failed", "skipped", "rate_limited", "ms_sum")
_FIRST_BUCKET = USAGE_COUNTERS.index("lat_0")
Sums = dict[tuple[Any, ...], list[Any]]


def bucket_start(moment: datetime, width: int) -> int:
    """Epoch seconds of the UTC hour or day that holds ``moment``."""
    epoch = int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())
    return epoch - epoch % width


def usage_sums(rows: Iterable[Row]) -> Sums:
    """Raw rows summed per (hour, user, token, provider, key, model, status)."""
    sums: Sums = {}
    width = len(USAGE_COUNTERS)
    for row in rows:
        status = row.get("status") or "ok"
        key = (bucket_start(row["created_at"], HOUR), row.get("user_id") or 0, row.get("token_id") or 0,
               row.get("provider_name") or "", row.get("key_id") or 0, row["requested_model"], status)
        acc = sums.get(key)
        if acc is None:
            acc = sums[key] = [0] * width
        latency = row.get("latency_ms") or 0.0
        cost = row.get("cost_micros")
        ttft = row.get("ttft_ms")
        acc[0] += 1
        acc[1] += status == "error"
        acc[2] += row.get("prompt_tokens") or 0
        acc[3] += row.get("completion_tokens") or 0
        if cost is None:
            acc[5] += row.get("provider_name") is not None
        else:
            acc[4] += cost
        if ttft is not None:
            acc[6] += 1
            acc[8] += ttft
        acc[7] += latency
        acc[_FIRST_BUCKET + latency_bucket(latency)] += 1
    return sums


def attempt_sums(rows: Iterable[Row]) -> Sums:
    """Upstream calls from the attempt trails, summed per (hour, user, token, provider, key, requested model).

    A served call whose stream later broke (the record's status is "error") counts as failed.
    """
    sums: Sums = {}
    for row in rows:
        head = (bucket_start(row["created_at"], HOUR), row.get("user_id") or 0, row.get("token_id") or 0)
        broken = row.get("status") == "error"
        for attempt in row.get("attempts") or ():
            outcome = attempt.get("outcome")
            if outcome not in ("served", "failed", "skipped"):
                continue
            key = (*head, attempt.get("provider") or "", attempt.get("key_id") or 0, row["requested_model"])
            acc = sums.get(key)
            if acc is None:
                acc = sums[key] = [0, 0, 0, 0, 0.0]
            if outcome == "skipped":
                acc[2] += 1
                continue
            acc[0] += 1
            acc[1] += outcome == "failed" or broken
            acc[3] += attempt.get("reason") == "rate_limited"
            acc[4] += attempt.get("ms") or 0.0
    return sums


def coarsen(sums: Sums, width: int) -> Sums:
    """Hourly sums re-keyed to wider buckets (days) and added up."""
    wider: Sums = {}
    for key, values in sums.items():
        bucket = key[0] - key[0] % width
        target = wider.get((bucket, *key[1:]))
        if target is None:
            wider[(bucket, *key[1:])] = list(values)
        else:
            for i, value in enumerate(values):
                target[i] += value
    return wider


# -- writing ---------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _upsert_sql(mark: str, table: str, keys: tuple[str, ...], counters: tuple[str, ...]) -> str:
    """``INSERT … ON CONFLICT (keys) DO UPDATE SET n = n + excluded.n`` (SQLite and PostgreSQL), built
    once per table and placeholder style rather than on every flush."""
    columns = (*keys, *counters)
    updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in counters)
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))}) "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}")


def _upsert(connection: Connection, table: Table, keys: tuple[str, ...], counters: tuple[str, ...], sums: Sums) -> None:
    """One executemany straight to the driver: SQLAlchemy's per-row parameter handling would cost more than the writes."""
    if sums:
        sql = _upsert_sql(placeholder(connection.dialect), table.name, keys, counters)
        connection.exec_driver_sql(sql, [(*key, *values) for key, values in sums.items()])


def apply_rollups(connection: Connection, rows: Sequence[Row]) -> None:
    """Add a batch of raw usage rows to the hourly and daily rollups (inside the caller's transaction)."""
    usage, attempts = usage_sums(rows), attempt_sums(rows)
    for width in (HOUR, DAY):
        if width != HOUR:
            usage, attempts = coarsen(usage, width), coarsen(attempts, width)
        _upsert(connection, USAGE_TABLES[width], USAGE_KEY_COLUMNS, USAGE_COUNTERS, usage)
        _upsert(connection, ATTEMPT_TABLES[width], KEY_COLUMNS, ATTEMPT_COUNTERS, attempts)


# -- catch-up for databases that hold raw rows from before the rollups existed ----------------


def ensure_rollups(engine: Engine) -> int:
    """Rebuild every rollup from the raw rows once per rollup layout version; returns rows replayed.

    The usage recorder runs this before its first batch, so no raw row can be counted twice. A
    rebuild can only replay the raw rows retention has kept: bumping ``ROLLUP_VERSION`` on a pruned
    database shortens the charts' history to the retention period.
    """
    with Session(engine) as session:
        marker = session.get(AppSetting, ROLLUP_SETTING)
        if marker is not None and marker.value == ROLLUP_VERSION:
            return 0
        connection = session.connection()
        for table in (*USAGE_TABLES.values(), *ATTEMPT_TABLES.values()):
            connection.execute(delete(table))
        replayed = 0
        last_id = 0
        while True:
            page = select(USAGE_RECORD).where(USAGE_RECORD.c.id > last_id).order_by(USAGE_RECORD.c.id).limit(REBUILD_BATCH)
            batch = [dict(row._mapping) for row in connection.execute(page)]
            if not batch:
                break
            apply_rollups(connection, batch)
            replayed += len(batch)
            last_id = batch[-1]["id"]
        session.merge(AppSetting(key=ROLLUP_SETTING, value=ROLLUP_VERSION))
        session.commit()
    return replayed


def mark_rollups_current(connection: Connection) -> None:
    """For loaders that build rollups themselves (the benchmark): record that they are complete."""
    connection.execute(delete(APP_SETTING).where(APP_SETTING.c.key == ROLLUP_SETTING))
    connection.execute(APP_SETTING.insert().values(key=ROLLUP_SETTING, value=ROLLUP_VERSION, updated_at=datetime.now(UTC)))


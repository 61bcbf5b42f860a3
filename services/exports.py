"""Usage exports: the raw request records or the user × model table, as CSV or JSON, streamed.

Every export is a generator of byte chunks: records are read in keyset-paged batches (by id), so
memory stays flat whatever the row count, and the same generator feeds the API's
``StreamingResponse`` and the console's file export. Exports carry no secrets and no message
content: the attempt trail is summarised as route and outcome, without provider error texts.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import orjson
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.analytics import TimeRange, iter_breakdown
from services.tables import UsageRecord
from services.usage_query import Labels, UsageFilter, Viewer, load_labels, record_conditions

Kind = Literal["records", "aggregate"]
Format = Literal["csv", "json"]
KINDS: tuple[Kind, ...] = ("records", "aggregate")
FORMATS: tuple[Format, ...] = ("csv", "json")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
BATCH = 5000
Progress = Callable[[int], None]

RECORD_COLUMNS = (
    "id", "created_at", "request_id", "source", "user_id", "user", "token_id", "token", "endpoint", "model", "provider",
    "upstream_model", "key_id", "key", "status", "http_status", "error_code", "prompt_tokens", "completion_tokens",
    "total_tokens", "cost_usd", "latency_ms", "ttft_ms", "overhead_ms", "stream", "attempts", "route",
)
AGGREGATE_COLUMNS = ("user_id", "user", "model", "requests", "errors", "prompt_tokens", "completion_tokens", "tokens", "cost_usd", "cost_unknown")
_RAW = UsageRecord.__table__.c
_SELECTED = (
    _RAW.id, _RAW.created_at, _RAW.request_id, _RAW.source, _RAW.user_id, _RAW.token_id, _RAW.endpoint, _RAW.requested_model,
    _RAW.provider_name, _RAW.upstream_model, _RAW.key_id, _RAW.status, _RAW.http_status, _RAW.error_code, _RAW.prompt_tokens,
    _RAW.completion_tokens, _RAW.cost_micros, _RAW.latency_ms, _RAW.ttft_ms, _RAW.overhead_ms, _RAW.stream, _RAW.attempts,
)


def filename(kind: Kind, fmt: Format, window: TimeRange) -> str:
    return f"llmhub-usage-{kind}_{window.slug()}.{fmt}"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def route_summary(attempts: Iterable[dict[str, Any]]) -> str:
    """``provider/model [key]: outcome (reason, status)`` per attempt, joined by `` > `` (no error texts)."""
    parts = []
    for attempt in attempts:
        details = ", ".join(str(v) for v in (attempt.get("reason"), attempt.get("status")) if v)
        key = f" [{attempt['key_label']}]" if attempt.get("key_label") else ""
        parts.append(f"{attempt.get('provider')}/{attempt.get('model')}{key}: {attempt.get('outcome')}" + (f" ({details})" if details else ""))
    return " > ".join(parts)


def _record(row: Any, labels: Labels) -> tuple[Any, ...]:
    """One export row, in RECORD_COLUMNS order."""
    (record_id, created_at, request_id, source, user_id, token_id, endpoint, model, provider, upstream_model, key_id, status,
     http_status, error_code, prompt_tokens, completion_tokens, cost_micros, latency_ms, ttft_ms, overhead_ms, stream, attempts) = row
    attempts = attempts or []
    return (
        record_id, _iso(created_at), request_id, source, user_id, labels.user(user_id), token_id, labels.token(token_id), endpoint,
        model, provider, upstream_model, key_id, labels.key(key_id) if key_id else None, status, http_status, error_code,
        prompt_tokens, completion_tokens, prompt_tokens + completion_tokens,
        None if cost_micros is None else str(Decimal(cost_micros) / 1_000_000), latency_ms, ttft_ms, overhead_ms, bool(stream),
        sum(1 for a in attempts if a.get("outcome") in ("served", "failed")), route_summary(attempts),
    )


def _window_filter(filters: UsageFilter, window: TimeRange) -> UsageFilter:
    return replace(filters, since=window.since, until=window.until, search=None)


def iter_records(engine: Engine, filters: UsageFilter, viewer: Viewer, window: TimeRange) -> Iterator[list[tuple[Any, ...]]]:
    """Batches of export rows, oldest first, read by keyset (``id > last``) so no batch rescans the table."""
    conditions = record_conditions(viewer.scope(_window_filter(filters, window)))
    labels = load_labels(engine)
    last_id = 0
    while True:
        with Session(engine) as session:
            rows = session.execute(select(*_SELECTED).where(*conditions, _RAW.id > last_id).order_by(_RAW.id).limit(BATCH)).all()
        if not rows:
            return
        last_id = rows[-1][0]
        yield [_record(row, labels) for row in rows]


def count_records(engine: Engine, filters: UsageFilter, viewer: Viewer, window: TimeRange) -> int:
    conditions = record_conditions(viewer.scope(_window_filter(filters, window)))
    with Session(engine) as session:
        return int(session.execute(select(func.count()).select_from(UsageRecord.__table__).where(*conditions)).scalar_one())


def _aggregate_batches(engine: Engine, filters: UsageFilter, viewer: Viewer, window: TimeRange) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in iter_breakdown(engine, filters, viewer, window):
        batch.append(tuple(row[name] for name in AGGREGATE_COLUMNS))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _csv_chunks(columns: tuple[str, ...], batches: Iterable[list[tuple[Any, ...]]], progress: Progress | None) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    done = 0
    for batch in batches:
        writer.writerows(batch)
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
        done += len(batch)
        if progress is not None:
            progress(done)
    if buffer.tell():
        yield buffer.getvalue().encode()


def _json_chunks(columns: tuple[str, ...], batches: Iterable[list[tuple[Any, ...]]], progress: Progress | None) -> Iterator[bytes]:
    """One JSON array of objects, written a batch at a time."""
    yield b"["
    separator = b""
    done = 0
    for batch in batches:
        yield separator + b",".join(orjson.dumps(dict(zip(columns, row, strict=True))) for row in batch)
        separator = b","
        done += len(batch)
        if progress is not None:
            progress(done)
    yield b"]\n"


def export_stream(
    engine: Engine, kind: Kind, fmt: Format, filters: UsageFilter, viewer: Viewer, window: TimeRange, *, progress: Progress | None = None,
) -> Iterator[bytes]:
    """The chunks of one export: exactly the rows the filters (scoped to the viewer) select in the window."""
    if kind not in KINDS or fmt not in FORMATS:
        raise ValueError(f"kind must be one of {KINDS} and format one of {FORMATS}")
    columns = RECORD_COLUMNS if kind == "records" else AGGREGATE_COLUMNS
    batches = iter_records(engine, filters, viewer, window) if kind == "records" else _aggregate_batches(engine, filters, viewer, window)
    chunks = _csv_chunks if fmt == "csv" else _json_chunks
    return chunks(columns, batches, progress)


def write_export(path: Path, chunks: Iterable[bytes]) -> int:
    """Stream an export into a file (the console's download); returns the bytes written."""
    written = 0
    with path.open("wb") as file:
        for chunk in chunks:
            file.write(chunk)
            written += len(chunk)
    return written

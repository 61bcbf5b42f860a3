"""Usage exports: the raw request records or the user × model table, as CSV or JSON, streamed.

Every export is a generator of byte chunks: records are read in keyset-paged batches (by id), so
memory stays flat whatever the row count, and the same generator feeds the API's
``StreamingResponse`` and the console's file export. Exports carry no secrets and no message
content: the attempt trail is summarised as route and outcome, without provider error texts. The one
opt-in exception is ``with_bodies``: records then carry the bodies logged while body logging was on
(already redacted when stored, and redacted again on the way out).
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

from services.errors import UsageError
from services.usage.analytics import TimeRange, iter_breakdown
from services.usage.queries import (
    Labels,
    UsageFilter,
    Viewer,
    load_labels,
    record_conditions,
)
from services.usage.settings import redact
from services.usage.tables import USAGE_BODY, USAGE_RECORD

Kind = Literal["records", "aggregate"]
Format = Literal["csv", "json"]
KINDS: tuple[Kind, ...] = ("records", "aggregate")
FORMATS: tuple[Format, ...] = ("csv", "json")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
BATCH = 5000
BODY_BATCH = 500
"""Rows per batch when the logged bodies come along: one body can be hundreds of kilobytes (a long prompt)."""
Progress = Callable[[int], None]

RECORD_COLUMNS = (
    "id", "created_at", "request_id", "source", "user_id", "user", "token_id", "token", "endpoint", "model", "provider",
    "upstream_model", "key_id", "key", "status", "http_status", "error_code", "prompt_tokens", "completion_tokens",
    "total_tokens", "cost_usd", "latency_ms", "ttft_ms", "overhead_ms", "stream", "attempts", "route", "cache_hit", "cost_saved_usd",
)
BODY_COLUMNS = ("request_body", "response_body")
AGGREGATE_COLUMNS = (
    "user_id", "user", "model", "requests", "errors", "prompt_tokens", "completion_tokens", "tokens", "cost_usd", "cost_unknown",
)
_RAW = USAGE_RECORD.c
_SELECTED = (
    _RAW.id, _RAW.created_at, _RAW.request_id, _RAW.source, _RAW.user_id, _RAW.token_id, _RAW.endpoint, _RAW.requested_model,
    _RAW.provider_name, _RAW.upstream_model, _RAW.key_id, _RAW.status, _RAW.http_status, _RAW.error_code, _RAW.prompt_tokens,
    _RAW.completion_tokens, _RAW.cost_micros, _RAW.latency_ms, _RAW.ttft_ms, _RAW.overhead_ms, _RAW.stream, _RAW.attempts,
    _RAW.cache_hit, _RAW.cost_saved_micros,
)
_BODY = USAGE_BODY.c
_REQUEST_ID = RECORD_COLUMNS.index("request_id")
_NO_BODIES: tuple[None, None] = (None, None)


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
        route = f"{attempt.get('provider')}/{attempt.get('model')}{key}: {attempt.get('outcome')}"
        parts.append(route + (f" ({details})" if details else ""))
    return " > ".join(parts)


def _record(row: Any, labels: Labels) -> tuple[Any, ...]:
    """One export row, in RECORD_COLUMNS order."""
    (record_id, created_at, request_id, source, user_id, token_id, endpoint, model, provider, upstream_model, key_id, status,
     http_status, error_code, prompt_tokens, completion_tokens, cost_micros, latency_ms, ttft_ms, overhead_ms, stream, attempts,
     cache_hit, saved_micros) = row
    attempts = attempts or []
    return (
        record_id, _iso(created_at), request_id, source, user_id, labels.user(user_id), token_id, labels.token(token_id, source), endpoint,
        model, provider, upstream_model, key_id, labels.key(key_id) if key_id else None, status, http_status, error_code,
        prompt_tokens, completion_tokens, prompt_tokens + completion_tokens,
        _usd(cost_micros), latency_ms, ttft_ms, overhead_ms, bool(stream),
        sum(1 for a in attempts if a.get("outcome") in ("served", "failed")), route_summary(attempts), bool(cache_hit), _usd(saved_micros),
    )


def _usd(micros: int | None) -> str | None:
    return None if micros is None else str(Decimal(micros) / 1_000_000)


def _window_filter(filters: UsageFilter, window: TimeRange) -> UsageFilter:
    return replace(filters, since=window.since, until=window.until, search=None)


def iter_records(
    engine: Engine, filters: UsageFilter, viewer: Viewer, window: TimeRange, *, with_bodies: bool = False,
) -> Iterator[list[tuple[Any, ...]]]:
    """Batches of export rows, oldest first, read by keyset (``id > last``) so no batch rescans the table.

    ``with_bodies`` appends the BODY_COLUMNS to each row (one more query per batch, none without it).
    """
    conditions = record_conditions(viewer.scope(_window_filter(filters, window)))
    labels = load_labels(engine)
    size = BODY_BATCH if with_bodies else BATCH
    last_id = 0
    while True:
        with Session(engine) as session:
            rows = session.execute(select(*_SELECTED).where(*conditions, _RAW.id > last_id).order_by(_RAW.id).limit(size)).all()
        if not rows:
            return
        last_id = rows[-1][0]
        batch = [_record(row, labels) for row in rows]
        yield _with_bodies(engine, batch) if with_bodies else batch


def _with_bodies(engine: Engine, batch: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows, each followed by its logged request and response body (None, None when none was logged).

    Only the request ids of rows the viewer may see are looked up, so the bodies follow the records' scope.
    """
    request_ids = [row[_REQUEST_ID] for row in batch]
    with Session(engine) as session:
        logged = session.execute(select(_BODY.request_id, _BODY.request, _BODY.response).where(_BODY.request_id.in_(request_ids))).all()
    bodies = {request_id: (redact(request), redact(response)) for request_id, request, response in logged}
    return [row + bodies.get(row[_REQUEST_ID], _NO_BODIES) for row in batch]


def _json_text(body: Any) -> str:
    return "" if body is None else orjson.dumps(body).decode()


def _bodies_as_text(batches: Iterable[list[tuple[Any, ...]]]) -> Iterator[list[tuple[Any, ...]]]:
    """CSV cells hold the bodies as compact JSON text (empty when none was logged)."""
    for batch in batches:
        yield [(*row[:-2], _json_text(row[-2]), _json_text(row[-1])) for row in batch]


def count_records(engine: Engine, filters: UsageFilter, viewer: Viewer, window: TimeRange) -> int:
    conditions = record_conditions(viewer.scope(_window_filter(filters, window)))
    with Session(engine) as session:
        return int(session.execute(select(func.count()).select_from(USAGE_RECORD).where(*conditions)).scalar_one())


def usd_text(amount: float) -> str:
    """A dollar amount as plain decimal text (``0.000069``, never ``6.9e-05``), as the records export writes it."""
    return format(Decimal(repr(amount)), "f")


def _aggregate_batches(engine: Engine, filters: UsageFilter, viewer: Viewer, window: TimeRange) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in iter_breakdown(engine, filters, viewer, window):
        batch.append(tuple(usd_text(row[name]) if name == "cost_usd" else row[name] for name in AGGREGATE_COLUMNS))
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
    engine: Engine, kind: Kind, fmt: Format, filters: UsageFilter, viewer: Viewer, window: TimeRange, *,
    with_bodies: bool = False, progress: Progress | None = None,
) -> Iterator[bytes]:
    """The chunks of one export: exactly the rows the filters (scoped to the viewer) select in the window.

    ``with_bodies`` (records only) adds the logged bodies: JSON objects (or null) in JSON, compact JSON text in CSV.
    """
    if kind not in KINDS or fmt not in FORMATS:
        raise UsageError(f"kind must be one of {KINDS} and format one of {FORMATS}")
    if with_bodies and kind != "records":
        raise UsageError("only the records export can include the logged bodies")
    columns: tuple[str, ...]
    if kind == "aggregate":
        columns, batches = AGGREGATE_COLUMNS, _aggregate_batches(engine, filters, viewer, window)
    else:
        columns = RECORD_COLUMNS + BODY_COLUMNS if with_bodies else RECORD_COLUMNS
        batches = iter_records(engine, filters, viewer, window, with_bodies=with_bodies)
        if with_bodies and fmt == "csv":
            batches = _bodies_as_text(batches)
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

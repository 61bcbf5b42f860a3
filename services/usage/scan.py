"""Reading a window of usage records in batches, oldest first, never the whole window at once.

Pages are keyset pages on the primary key between the first and the last record of the window
(found once through the ``created_at`` index): each page is a range scan of the table itself, with
the caller's conditions as a filter, so a scan costs time in proportion to the window whatever the
table holds before or after it. Records are written in arrival order, so id order is time order;
the few a second instance may interleave out of order are kept, and a record is read when its
``created_at`` falls inside the window.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.engine import Engine, Row
from sqlalchemy.sql.elements import ColumnElement

from services.usage.tables import USAGE_RECORD

BATCH = 5000
RAW = USAGE_RECORD.c
CREATED_TEXT = type_coerce(RAW.created_at, String)
"""``created_at`` as stored (read as text and parsed by ``epoch_of``: the column type's own processing
costs a regular expression a row)."""
ATTEMPTS_TEXT = type_coerce(RAW.attempts, String)
"""The attempt trail as its stored JSON text (for orjson)."""


def epoch_of(value: str | datetime) -> float:
    """A stored ``created_at`` (SQLite: naive UTC text; other drivers: a datetime) as epoch seconds."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def window_ids(engine: Engine, since: datetime, until: datetime) -> tuple[int, int] | None:
    """The first and last id of the records created in [since, until), or None when there are none."""
    query = select(func.min(RAW.id), func.max(RAW.id)).where(RAW.created_at >= since, RAW.created_at < until)
    with engine.connect() as connection:
        first, last = connection.execute(query).one()
    return None if first is None else (int(first), int(last))


def scan_window(
    engine: Engine, columns: Sequence[ColumnElement[Any]], since: datetime, until: datetime, *conditions: ColumnElement[bool],
    batch: int = BATCH,
) -> Iterator[list[tuple[float, Row[Any]]]]:
    """Batches of the records created in [since, until) that meet ``conditions``, in id order: each as its
    time (epoch seconds) and the row ``(id, created_at, *columns)``."""
    bounds = window_ids(engine, since, until)
    if bounds is None:
        return
    low, high = since.timestamp(), until.timestamp()
    last, end = bounds[0] - 1, bounds[1]
    while last < end:
        query = (select(RAW.id, CREATED_TEXT, *columns).where(RAW.id > last, RAW.id <= end, *conditions)
                 .order_by(RAW.id).limit(batch))
        with engine.connect() as connection:
            rows = connection.execute(query).all()
        if not rows:
            return
        last = rows[-1][0]
        timed = ((epoch_of(row[1]), row) for row in rows)
        yield [(at, row) for at, row in timed if low <= at < high]

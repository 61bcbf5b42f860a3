"""Reading a window of usage records in batches, oldest first, never the whole window at once.

Pages are keyset pages on the primary key between the first and the last record of the window
(found once through the ``created_at`` index): each page is a range scan of the table itself, with
the caller's conditions as a filter, so a scan costs time in proportion to the window whatever the
table holds before or after it. Records are written in arrival order, so id order is time order;
the few a second instance may interleave out of order are kept, and a record is read when its
``created_at`` falls inside the window.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import String, cast, func, select, type_coerce
from sqlalchemy.engine import Engine, Row
from sqlalchemy.sql.elements import ColumnElement

from services.usage.tables import USAGE_RECORD

BATCH = 5000
RAW = USAGE_RECORD.c
CREATED_TEXT = type_coerce(RAW.created_at, String)
"""``created_at`` as stored (read as text and parsed by ``epoch_of``: the column type's own processing
costs a regular expression a row)."""
ATTEMPTS_TEXT = cast(RAW.attempts, String)
"""The attempt trail as its stored JSON text (for orjson, and for ``LIKE``): a cast, because PostgreSQL's
``json`` type has no ``LIKE`` and psycopg would hand it back parsed."""


def epoch_of(value: str | datetime) -> float:
    """A stored ``created_at`` (SQLite: naive UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``; other drivers: a
    datetime) as epoch seconds. The text's day is looked up once (a window holds a few dozen days),
    its time of day added up by hand: ``datetime.fromisoformat`` costs more than the row's other work."""
    if isinstance(value, str):
        if len(value) >= 19 and value[10] == " " and value[19:20] in ("", "."):
            return _day_start(value[:10]) + int(value[11:13]) * 3600 + int(value[14:16]) * 60 + float(value[17:])
        value = datetime.fromisoformat(value)
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


@lru_cache(maxsize=128)
def _day_start(day: str) -> float:
    return float(calendar.timegm(date.fromisoformat(day).timetuple()))


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

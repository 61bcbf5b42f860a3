"""Retention: raw usage records (and logged bodies, and stored Responses API answers) older than
``retention_days`` are deleted in batches.

Only raw rows go; the hourly and daily rollups keep the history, so charts, budgets and the
aggregated export read the same numbers before and after a prune. Each batch is its own short
transaction, so the usage recorder never waits long for the write lock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Table, delete, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.usage.settings import retention_days
from services.usage.tables import STORED_RESPONSE, USAGE_BODY, USAGE_RECORD

PRUNE_BATCH = 5000


def _prune_table(engine: Engine, table: Table, cutoff: datetime, batch: int) -> int:
    removed = 0
    while True:
        with Session(engine) as session:
            ids = select(table.c.id).where(table.c.created_at < cutoff).order_by(table.c.id).limit(batch).scalar_subquery()
            count = session.exec(delete(table).where(table.c.id.in_(ids))).rowcount or 0
            session.commit()
        removed += count
        if count < batch:
            return removed


def prune_raw_usage(engine: Engine, now: datetime, *, days: int | None = None, batch: int = PRUNE_BATCH) -> int:
    """Delete raw records older than the retention period; returns how many records went."""
    cutoff = now - timedelta(days=days if days is not None else retention_days(engine))
    _prune_table(engine, USAGE_BODY, cutoff, batch)
    _prune_table(engine, STORED_RESPONSE, cutoff, batch)
    return _prune_table(engine, USAGE_RECORD, cutoff, batch)

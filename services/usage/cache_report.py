"""How the response cache did over a usage window: the share of calls it answered and what they saved.

Read from the raw usage records (the rollups do not split hits from upstream calls), with the same
filters and viewer rules as the rest of the Usage page; one aggregate query over the window's rows,
which the ``created_at`` index narrows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import case, func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from services.tables import UsageRecord
from services.usage.queries import UsageFilter, Viewer, record_conditions


@dataclass(frozen=True, slots=True)
class CacheReport:
    requests: int
    hits: int
    saved_micros: int

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.requests if self.requests else None


def cache_report(engine: Engine, filters: UsageFilter, viewer: Viewer, since: datetime, until: datetime) -> CacheReport:
    """Calls, cache hits and saved cost of the records in [since, until) that the filters and the viewer allow."""
    conditions = record_conditions(viewer.scope(replace(filters, since=since, until=until)))
    hits = func.coalesce(func.sum(case((col(UsageRecord.cache_hit), 1), else_=0)), 0)
    saved = func.coalesce(func.sum(col(UsageRecord.cost_saved_micros)), 0)
    query = select(func.count(), hits, saved).where(*conditions)
    with Session(engine) as session:
        requests, hit_count, saved_micros = session.exec(query).one()
    return CacheReport(int(requests), int(hit_count), int(saved_micros or 0))

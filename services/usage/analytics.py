"""What the usage page shows, read from the hourly and daily rollups (never from raw rows).

A ``TimeRange`` is always aligned to whole buckets: hourly for spans up to seven days, daily (UTC
days) beyond. Every function takes a ``Viewer`` and scopes its query with it, so a user's numbers
are their own whatever the page asks for. Latency figures count successful requests only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, Table, func
from sqlalchemy import select as core_select  # the rollup tables are Core tables: SQLAlchemy's select, typed for any width
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, select

from services.errors import UsageError
from services.tables import (
    USAGE_ROLLUP_DAY,
    Provider,
)
from services.usage.queries import Labels, UsageFilter, Viewer, load_labels
from services.usage.rollups import (
    ATTEMPT_TABLES,
    DAY,
    HOUR,
    LATENCY_COLUMNS,
    USAGE_TABLES,
    percentile,
)

RANGE_PRESETS: dict[str, timedelta] = {
    "24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90),
}
HOURLY_UP_TO = timedelta(days=7)
STACK_DIMENSIONS = {"model": "model", "provider": "provider", "key": "key_id", "user": "user_id", "token": "token_id"}
MAX_STACKS = 8
OTHER = "other"
BREAKDOWN_SORTS = ("requests", "tokens", "cost", "errors", "user", "model")
EXPORT_BATCH = 2000
"""Breakdown rows an export fetches at a time."""


# -- time ranges ---------------------------------------------------------------------------------


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _floor(moment: datetime, width: int) -> datetime:
    epoch = _epoch(moment)
    return datetime.fromtimestamp(epoch - epoch % width, UTC)


def _ceil(moment: datetime, width: int) -> datetime:
    floored = _floor(moment, width)
    return floored if floored == moment else floored + timedelta(seconds=width)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """[since, until) in UTC, aligned to ``width`` seconds (HOUR or DAY)."""

    since: datetime
    until: datetime
    width: int

    def buckets(self) -> list[int]:
        return list(range(_epoch(self.since), _epoch(self.until), self.width))

    def slug(self) -> str:
        """The range for a file name: ``2026-11-01_to_2026-11-30`` (days) or with hours ``…T10h``."""
        last = self.until - timedelta(seconds=self.width)
        fmt = "%Y-%m-%d" if self.width == DAY else "%Y-%m-%dT%Hh"
        return f"{self.since.strftime(fmt)}_to_{last.strftime(fmt)}" + ("" if self.width == DAY else "_UTC")

    def describe(self) -> str:
        return "hourly buckets" if self.width == HOUR else "daily buckets (UTC days)"


def aligned_range(since: datetime, until: datetime) -> TimeRange:
    """Round a span out to whole buckets; hourly for up to seven days, daily beyond."""
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    if until <= since:
        raise UsageError("the range must end after it starts")
    width = HOUR if until - since <= HOURLY_UP_TO else DAY
    return TimeRange(_floor(since, width), _ceil(until, width), width)


def preset_range(name: str, now: datetime) -> TimeRange:
    """``24h``/``7d``: the last N hours including the current one; ``30d``/``90d``: the last N UTC days incl. today."""
    span = RANGE_PRESETS[name]
    width = HOUR if span <= HOURLY_UP_TO else DAY
    until = _floor(now.astimezone(UTC), width) + timedelta(seconds=width)
    return TimeRange(until - span, until, width)


def suggested_range(first_used: datetime | None, now: datetime) -> str:
    """The preset a usage page opens on: the last 24 hours while all the usage is younger than that (a new
    install's first calls fill the chart instead of making a one-pixel spike in a week), else the last 7 days."""
    return "24h" if first_used is None or now - first_used < RANGE_PRESETS["24h"] else "7d"


def day_range(first: date, last: date) -> TimeRange:
    """Whole UTC days from ``first`` to ``last`` inclusive (a custom range)."""
    if last < first:
        first, last = last, first
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    until = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    return TimeRange(since, until, HOUR if until - since <= HOURLY_UP_TO else DAY)


# -- query helpers -------------------------------------------------------------------------------


def _conditions(table: Table, filters: UsageFilter, viewer: Viewer, window: TimeRange) -> list[ColumnElement[bool]]:
    scoped = viewer.scope(filters)
    conditions = [table.c.bucket >= _epoch(window.since), table.c.bucket < _epoch(window.until)]
    for column, value in (("user_id", scoped.user_id), ("token_id", scoped.token_id), ("provider", scoped.provider),
                          ("key_id", scoped.key_id), ("model", scoped.model), ("status", scoped.status)):
        if value is not None and column in table.c:
            conditions.append(table.c[column] == value)
    return conditions


def _label_for(dimension: str, labels: Labels, value: Any) -> str:
    if dimension == "user_id":
        return labels.user(value)
    if dimension == "token_id":
        return labels.token(value)
    if dimension == "key_id":
        return labels.key(value)
    return value or "(none)"


# -- KPIs ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Kpis:
    requests: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_micros: int = 0
    cost_unknown: int = 0
    median_latency_ms: float | None = None

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


KPI_COUNTERS = ("requests", "errors", "prompt_tokens", "completion_tokens", "cost_micros", "cost_unknown")


@dataclass(slots=True)
class _Totals:
    """One bucket's sums: counters over every status, time to first token and latency histogram over "ok" only."""

    counts: list[int] = field(default_factory=lambda: [0] * len(KPI_COUNTERS))
    ttft_sum: float = 0.0
    ttft_count: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * len(LATENCY_COLUMNS))


def _bucket_totals(engine: Engine, filters: UsageFilter, viewer: Viewer, window: TimeRange) -> dict[int, _Totals]:
    """Per bucket totals, read in one pass grouped by (bucket, status): plain sums, no per-row CASE."""
    table = USAGE_TABLES[window.width]
    sums = [func.sum(table.c[name]) for name in (*KPI_COUNTERS, "ttft_ms_sum", "ttft_count", *LATENCY_COLUMNS)]
    query = (core_select(table.c.bucket, table.c.status, *sums).where(*_conditions(table, filters, viewer, window))
             .group_by(table.c.bucket, table.c.status))
    totals: dict[int, _Totals] = {}
    with Session(engine) as session:
        for bucket, status, *values in session.execute(query):
            entry = totals.setdefault(bucket, _Totals())
            entry.counts = [a + int(b) for a, b in zip(entry.counts, values, strict=False)]
            if status == "ok":
                n = len(KPI_COUNTERS)
                entry.ttft_sum, entry.ttft_count = float(values[n]), int(values[n + 1])
                entry.histogram = [int(v) for v in values[n + 2:]]
    return totals


def _kpis_of(totals: dict[int, _Totals]) -> Kpis:
    requests, errors, prompt_tokens, completion_tokens, cost_micros, cost_unknown = (
        sum(t.counts[i] for t in totals.values()) for i in range(len(KPI_COUNTERS))
    )
    histogram = [sum(t.histogram[i] for t in totals.values()) for i in range(len(LATENCY_COLUMNS))]
    return Kpis(
        requests, errors, prompt_tokens, completion_tokens, cost_micros, cost_unknown, median_latency_ms=percentile(histogram, 0.5),
    )


def kpis(engine: Engine, filters: UsageFilter, viewer: Viewer, window: TimeRange) -> Kpis:
    return _kpis_of(_bucket_totals(engine, filters, viewer, window))


# -- series over time ----------------------------------------------------------------------------


@dataclass(slots=True)
class Stack:
    name: str
    requests: list[int]
    tokens: list[int]
    cost_usd: list[float]


@dataclass(slots=True)
class Series:
    """Requests, tokens and cost per bucket, one stack per group (the biggest ``MAX_STACKS``, the rest as "other")."""

    buckets: list[datetime]
    stacks: list[Stack] = field(default_factory=list)


def usage_series(engine: Engine, filters: UsageFilter, viewer: Viewer, window: TimeRange, stack_by: str = "model") -> Series:
    dimension = STACK_DIMENSIONS[stack_by]
    table = USAGE_TABLES[window.width]
    query = (
        core_select(table.c.bucket, table.c[dimension], func.sum(table.c.requests),
                    func.sum(table.c.prompt_tokens + table.c.completion_tokens), func.sum(table.c.cost_micros))
        .where(*_conditions(table, filters, viewer, window))
        .group_by(table.c.bucket, table.c[dimension])
    )
    with Session(engine) as session:
        rows = session.execute(query).all()
    labels = load_labels(engine) if dimension in ("user_id", "token_id", "key_id") else Labels({}, {}, {})
    totals: dict[Any, int] = {}
    for _, group, requests, _, _ in rows:
        totals[group] = totals.get(group, 0) + int(requests)
    kept = sorted(totals, key=lambda g: -totals[g])[:MAX_STACKS]
    names = {group: _label_for(dimension, labels, group) for group in kept}
    epochs = window.buckets()
    position = {epoch: i for i, epoch in enumerate(epochs)}
    stacks: dict[str, Stack] = {}
    for bucket, group, requests, tokens, cost in rows:
        name = names.get(group, OTHER)
        stack = stacks.get(name)
        if stack is None:
            stack = stacks[name] = Stack(name, [0] * len(epochs), [0] * len(epochs), [0.0] * len(epochs))
        i = position[bucket]
        stack.requests[i] += int(requests)
        stack.tokens[i] += int(tokens)
        stack.cost_usd[i] += int(cost) / 1_000_000
    ordered = sorted(stacks.values(), key=lambda s: (s.name == OTHER, -sum(s.requests)))
    return Series([datetime.fromtimestamp(e, UTC) for e in epochs], ordered)


@dataclass(frozen=True, slots=True)
class LatencyPoint:
    bucket: datetime
    p50_ms: float | None
    p95_ms: float | None
    ttft_ms: float | None


def _latency_of(totals: dict[int, _Totals], window: TimeRange) -> list[LatencyPoint]:
    points = []
    for epoch in window.buckets():
        entry = totals.get(epoch, _Totals())
        points.append(LatencyPoint(
            datetime.fromtimestamp(epoch, UTC), percentile(entry.histogram, 0.5), percentile(entry.histogram, 0.95),
            entry.ttft_sum / entry.ttft_count if entry.ttft_count else None,
        ))
    return points


def latency_series(engine: Engine, filters: UsageFilter, viewer: Viewer, window: TimeRange) -> list[LatencyPoint]:
    """p50/p95 latency and mean time to first token per bucket (buckets without traffic included, empty)."""
    return _latency_of(_bucket_totals(engine, filters, viewer, window), window)


@dataclass(frozen=True, slots=True)
class ProviderErrors:
    provider: str
    tried: int
    failed: int

    @property
    def rate(self) -> float:
        return self.failed / self.tried if self.tried else 0.0


def provider_error_rates(engine: Engine, filters: UsageFilter, viewer: Viewer, window: TimeRange) -> list[ProviderErrors]:
    """Failed share of upstream calls per provider (every attempt counts, including ones failed over)."""
    table = ATTEMPT_TABLES[window.width]
    query = (
        core_select(table.c.provider, func.sum(table.c.tried), func.sum(table.c.failed))
        .where(*_conditions(table, filters, viewer, window), table.c.provider != "")
        .group_by(table.c.provider)
        .order_by(table.c.provider)
    )
    with Session(engine) as session:
        return [ProviderErrors(p, int(t), int(f)) for p, t, f in session.execute(query) if t]


# -- the user × model breakdown ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BreakdownPage:
    rows: list[dict[str, Any]]
    total: int


def _breakdown_query(table: Table, filters: UsageFilter, viewer: Viewer, window: TimeRange) -> Select[*tuple[Any, ...]]:
    tokens = func.sum(table.c.prompt_tokens + table.c.completion_tokens)
    return (
        core_select(
            table.c.user_id.label("user_id"), table.c.model.label("model"), func.sum(table.c.requests).label("requests"),
            func.sum(table.c.errors).label("errors"), func.sum(table.c.prompt_tokens).label("prompt_tokens"),
            func.sum(table.c.completion_tokens).label("completion_tokens"), tokens.label("tokens"),
            func.sum(table.c.cost_micros).label("cost"), func.sum(table.c.cost_unknown).label("cost_unknown"),
        )
        .where(*_conditions(table, filters, viewer, window))
        .group_by(table.c.user_id, table.c.model)
    )


def _breakdown_row(row: Any, labels: Labels) -> dict[str, Any]:
    return {
        "user_id": row.user_id, "user": labels.user(row.user_id), "model": row.model, "requests": int(row.requests),
        "errors": int(row.errors), "prompt_tokens": int(row.prompt_tokens), "completion_tokens": int(row.completion_tokens),
        "tokens": int(row.tokens), "cost_usd": int(row.cost) / 1_000_000, "cost_unknown": int(row.cost_unknown),
    }


def breakdown(
    engine: Engine, filters: UsageFilter, viewer: Viewer, window: TimeRange,
    *, limit: int = 25, offset: int = 0, sort: str = "cost", descending: bool = True,
) -> BreakdownPage:
    """One page of user × model totals, and the number of such pairs."""
    if sort not in BREAKDOWN_SORTS:
        raise UsageError(f"sort must be one of {', '.join(BREAKDOWN_SORTS)}")
    inner = _breakdown_query(USAGE_TABLES[window.width], filters, viewer, window).subquery()
    key = inner.c.user_id if sort == "user" else inner.c[sort]
    order = [key.desc() if descending else key.asc(), inner.c.user_id, inner.c.model]
    labels = load_labels(engine)
    with Session(engine) as session:
        total = session.execute(core_select(func.count()).select_from(inner)).scalar_one()
        rows = session.execute(core_select(inner).order_by(*order).limit(limit).offset(offset)).all()
    return BreakdownPage([_breakdown_row(row, labels) for row in rows], int(total))


def iter_breakdown(engine: Engine, filters: UsageFilter, viewer: Viewer, window: TimeRange) -> Iterator[dict[str, Any]]:
    """Every user × model row, biggest spend first (for exports), fetched in batches (on PostgreSQL through a
    server-side cursor: psycopg would otherwise load the whole result before the first row)."""
    inner = _breakdown_query(USAGE_TABLES[window.width], filters, viewer, window).subquery()
    labels = load_labels(engine)
    query = core_select(inner).order_by(inner.c.cost.desc(), inner.c.user_id, inner.c.model).execution_options(yield_per=EXPORT_BATCH)
    with Session(engine) as session:
        for row in session.execute(query):
            yield _breakdown_row(row, labels)


# -- filter choices ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FilterOptions:
    users: dict[int, str]
    providers: list[str]
    models: list[str]
    keys: dict[int, str]
    tokens: dict[int, str]
    first_used: datetime | None = None  # the viewer's oldest usage (hourly rollups), for the page's opening range


def filter_options(engine: Engine, viewer: Viewer) -> FilterOptions:
    """What the filter selects offer: only values the viewer's own usage (or, for admins, the catalog) holds."""
    table = USAGE_ROLLUP_DAY
    scope = [] if viewer.is_admin else [table.c.user_id == (viewer.user_id or -1)]
    labels = load_labels(engine)
    with Session(engine) as session:
        dimensions = core_select(table.c.provider, table.c.model, table.c.key_id, table.c.token_id)
        seen = session.execute(dimensions.where(*scope).distinct()).all()
        provider_names = set(session.exec(select(Provider.name))) if viewer.is_admin else set()
        hourly = USAGE_TABLES[HOUR]
        first_bucket = session.execute(core_select(func.min(hourly.c.bucket)).where(
            *([] if viewer.is_admin else [hourly.c.user_id == (viewer.user_id or -1)]))).scalar()
    providers = sorted({p for p, _, _, _ in seen if p} | provider_names)
    models = sorted({m for _, m, _, _ in seen})
    if viewer.is_admin:
        users = {0: labels.user(0), **labels.users}
        keys, tokens = dict(labels.keys), {0: labels.token(0), **labels.tokens}
    else:
        users = {viewer.user_id: labels.user(viewer.user_id)} if viewer.user_id else {}
        keys = {k: labels.key(k) for _, _, k, _ in seen if k}
        tokens = {t: labels.token(t) for _, _, _, t in seen if t}
    first_used = None if first_bucket is None else datetime.fromtimestamp(int(first_bucket), UTC)
    return FilterOptions(users, providers, models, keys, tokens, first_used)


# -- everything the usage page loads at once -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Overview:
    kpis: Kpis
    series: Series
    latency: list[LatencyPoint]
    provider_errors: list[ProviderErrors]
    table: BreakdownPage


def usage_overview(
    engine: Engine, filters: UsageFilter, viewer: Viewer, window: TimeRange, *, stack_by: str = "model", page_size: int = 25,
) -> Overview:
    """The usage page's data for one filter state: KPIs, the charts and the first breakdown page."""
    totals = _bucket_totals(engine, filters, viewer, window)
    return Overview(
        _kpis_of(totals),
        usage_series(engine, filters, viewer, window, stack_by),
        _latency_of(totals, window),
        provider_error_rates(engine, filters, viewer, window),
        breakdown(engine, filters, viewer, window, limit=page_size),
    )

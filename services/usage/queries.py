"""Reading usage records back: the request log behind ``/api/usage`` and the console.

Every reader takes a ``Viewer``: an admin sees every record, anyone else only their own. The scope
is applied here, in the query, so neither a page nor an API handler can forget it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, or_
from sqlalchemy import select as core_select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, func, select

from services.tables import (
    GatewayToken,
    Provider,
    ProviderKey,
    UsageBody,
    UsageRecord,
    User,
)
from services.usage.settings import redact
from services.usage.tables import USAGE_RECORD

_RAW = USAGE_RECORD.c
NOBODY = -1
"""The user id a non-admin viewer without a user is scoped to: matches no record."""


@dataclass(frozen=True, slots=True)
class UsageFilter:
    request_id: str | None = None
    user_id: int | None = None
    token_id: int | None = None
    model: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    provider: str | None = None
    key_id: int | None = None
    search: str | None = None  # request id, model or error text (request log only)
    cache_hit: bool | None = None  # answered from the response cache, or not (raw records only: the rollups do not split them)


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: admins see everyone, a user only their own usage."""

    user_id: int | None
    is_admin: bool

    def scope(self, filters: UsageFilter) -> UsageFilter:
        if self.is_admin:
            return filters
        return replace(filters, user_id=self.user_id if self.user_id is not None else NOBODY)


ADMIN = Viewer(None, True)


def record_conditions(filters: UsageFilter) -> list[ColumnElement[bool]]:
    """WHERE clauses on UsageRecord for a (scoped) filter."""
    conditions: list[ColumnElement[bool]] = [
        column.is_(None) if value in (0, "") else column == value  # 0 / "" stand for "none" (e.g. the master key)
        for column, value in (
            (col(UsageRecord.request_id), filters.request_id),
            (col(UsageRecord.user_id), filters.user_id),
            (col(UsageRecord.token_id), filters.token_id),
            (col(UsageRecord.requested_model), filters.model),
            (col(UsageRecord.status), filters.status),
            (col(UsageRecord.provider_name), filters.provider),
            (col(UsageRecord.key_id), filters.key_id),
        )
        if value is not None
    ]
    if filters.cache_hit is not None:
        conditions.append(col(UsageRecord.cache_hit).is_(filters.cache_hit))
    if filters.since is not None:
        conditions.append(col(UsageRecord.created_at) >= filters.since)
    if filters.until is not None:
        conditions.append(col(UsageRecord.created_at) < filters.until)
    if filters.search:
        pattern = f"%{filters.search.strip()}%"
        conditions.append(or_(
            col(UsageRecord.request_id) == filters.search.strip(),
            col(UsageRecord.requested_model).like(pattern),
            col(UsageRecord.upstream_model).like(pattern),
            col(UsageRecord.error_code).like(pattern),
            cast(col(UsageRecord.attempts), String).like(pattern),
        ))
    return conditions


def list_usage(engine: Engine, filters: UsageFilter, *, viewer: Viewer, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """Newest first; every column of UsageRecord as plain JSON-ready values."""
    query = select(UsageRecord).where(*record_conditions(viewer.scope(filters)))
    query = query.order_by(col(UsageRecord.id).desc()).offset(offset).limit(limit)
    with Session(engine) as session:
        return [row.model_dump(mode="json") for row in session.exec(query)]


# -- names for ids (users, tokens, keys) -------------------------------------------------------


NO_TOKEN = "no token (console or master key)"


@dataclass(frozen=True, slots=True)
class Labels:
    """Display names for the ids stored in usage rows; 0 / None means "none" (e.g. the master key)."""

    users: dict[int, str]
    tokens: dict[int, str]
    keys: dict[int, str]

    def user(self, user_id: int | None) -> str:
        return self.users.get(user_id, f"user #{user_id}") if user_id else "master key"

    def token(self, token_id: int | None, source: str | None = None) -> str:
        """A call without a token came from the console (``source="console"``: the person is its user) or with
        the master key; without its ``source`` (a rollup keeps none) it may be either."""
        if token_id:
            return self.tokens.get(token_id, f"token #{token_id}")
        return {"console": "console", "api": "master key"}.get(source or "", NO_TOKEN)

    def key(self, key_id: int | None) -> str:
        return self.keys.get(key_id, f"key #{key_id}") if key_id else "—"


def load_labels(engine: Engine) -> Labels:
    with Session(engine) as session:
        users = {uid: email for uid, email in session.exec(select(User.id, User.email)) if uid is not None}
        tokens = {
            tid: f"{name} (…{last4})"
            for tid, name, last4 in session.exec(select(GatewayToken.id, GatewayToken.name, GatewayToken.token_last4))
            if tid is not None
        }
        keys = {
            kid: f"{provider}/{label}"
            for kid, label, provider in session.exec(
                select(ProviderKey.id, ProviderKey.label, Provider.name).join(Provider, col(Provider.id) == ProviderKey.provider_id)
            )
            if kid is not None
        }
    return Labels(users, tokens, keys)


# -- the request log (console) -----------------------------------------------------------------

LOG_COLUMNS = (
    "id", "created_at", "request_id", "source", "user_id", "token_id", "endpoint", "requested_model", "provider_name",
    "upstream_model", "key_id", "status", "http_status", "error_code", "prompt_tokens", "completion_tokens", "cost_micros",
    "latency_ms", "ttft_ms", "overhead_ms", "stream",
)


@dataclass(frozen=True, slots=True)
class UsagePage:
    rows: list[dict[str, Any]]
    total: int


def _log_row(record: UsageRecord, labels: Labels) -> dict[str, Any]:
    row = {name: getattr(record, name) for name in LOG_COLUMNS}
    attempts = record.attempts or []
    row["user"] = labels.user(record.user_id)
    row["key"] = labels.key(record.key_id)
    row["attempt_count"] = sum(1 for a in attempts if a.get("outcome") in ("served", "failed"))
    row["failover"] = any(a.get("outcome") in ("failed", "skipped") for a in attempts)
    return row


def page_usage(engine: Engine, filters: UsageFilter, *, viewer: Viewer, limit: int = 50, offset: int = 0) -> UsagePage:
    """One page of the request log, newest first, with the number of matching records."""
    conditions = record_conditions(viewer.scope(filters))
    labels = load_labels(engine)
    with Session(engine) as session:
        total = session.exec(select(func.count()).select_from(UsageRecord).where(*conditions)).one()
        records = session.exec(select(UsageRecord).where(*conditions).order_by(col(UsageRecord.id).desc()).offset(offset).limit(limit))
        return UsagePage([_log_row(record, labels) for record in records], int(total))


def usage_detail_for_request(engine: Engine, request_id: str, *, viewer: Viewer) -> dict[str, Any] | None:
    """``usage_detail`` of the record a request id names (the id a caller got in ``x-llmhub-request-id``)."""
    with Session(engine) as session:
        usage_id = session.exec(select(UsageRecord.id).where(UsageRecord.request_id == request_id)).first()
    return None if usage_id is None else usage_detail(engine, usage_id, viewer=viewer)


def usage_detail(engine: Engine, usage_id: int, *, viewer: Viewer) -> dict[str, Any] | None:
    """One record with its attempt trail, display names and logged bodies (if any); None if not visible."""
    labels = load_labels(engine)
    with Session(engine) as session:
        record = session.get(UsageRecord, usage_id)
        if record is None or not (viewer.is_admin or (viewer.user_id is not None and record.user_id == viewer.user_id)):
            return None
        body = session.exec(select(UsageBody).where(UsageBody.request_id == record.request_id)).first()
        detail = _log_row(record, labels)
        detail["token"] = labels.token(record.token_id, record.source)
        detail["attempts"] = redact(record.attempts or [])  # provider error texts may quote a key
        detail["request_body"] = body.request if body else None
        detail["response_body"] = body.response if body else None
        return detail


@dataclass(frozen=True, slots=True)
class KeyUsage:
    requests: int
    cost_micros: int


def key_usage_since(engine: Engine, since: datetime) -> dict[int, KeyUsage]:
    """Requests served and spend per provider key since a moment (the console's "today" columns)."""
    query = (
        select(UsageRecord.key_id, func.count(), func.sum(UsageRecord.cost_micros))
        .where(col(UsageRecord.key_id).is_not(None), col(UsageRecord.created_at) >= since)
        .group_by(col(UsageRecord.key_id))
    )
    with Session(engine) as session:
        rows = session.exec(query)  # no NULL key (the WHERE); a key none of whose calls has a known cost has spent 0
        return {key_id: KeyUsage(int(count), int(cost or 0)) for key_id, count, cost in rows if key_id is not None}


# -- typical answers per model (the leaderboard's cost and latency columns) -----------------------


def answer_medians(engine: Engine, models: Sequence[str], since: datetime) -> dict[str, tuple[float | None, float | None]]:
    """The median cost (micro-dollars) and latency (ms) of a successful answer of each requested model since a moment."""
    if not models:
        return {}
    conditions = (_RAW.requested_model.in_(models), _RAW.status == "ok", _RAW.created_at >= since)
    costs = medians(engine, _RAW.cost_micros, (_RAW.requested_model,), *conditions)
    latencies = medians(engine, _RAW.latency_ms, (_RAW.requested_model,), *conditions)
    return {model: (costs.get((model,)), latencies.get((model,))) for model in models}


def medians(engine: Engine, value: ColumnElement[Any], groups: Sequence[ColumnElement[Any]], *conditions: ColumnElement[bool]
            ) -> dict[tuple[Any, ...], float]:
    """The median of ``value`` (nulls left out) per group of the usage records that meet ``conditions``,
    worked out in the database: a window function ranks each group's values, nothing but the middle
    ones comes back."""
    ranked = (
        core_select(
            *(column.label(f"group_{i}") for i, column in enumerate(groups)), value.label("value"),
            func.row_number().over(partition_by=list(groups), order_by=value).label("position"),
            func.count().over(partition_by=list(groups)).label("size"),
        )
        .where(value.is_not(None), *conditions)
        .subquery()
    )
    keys = [ranked.c[f"group_{i}"] for i in range(len(groups))]
    middle = or_(ranked.c.position == (ranked.c.size + 1) // 2, ranked.c.position == (ranked.c.size + 2) // 2)
    query = core_select(*keys, func.avg(ranked.c.value)).where(middle).group_by(*keys)
    with Session(engine) as session:
        return {tuple(row[:-1]): float(row[-1]) for row in session.execute(query)}

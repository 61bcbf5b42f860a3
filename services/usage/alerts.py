"""Alerts: quotas, budgets and provider error rates checked against thresholds by a scheduled job.

A crossed threshold becomes one ``AlertEvent`` per (kind, subject, level, period): the unique key
makes a threshold fire once per day (daily token quotas), month (spend budgets) or hour (error
rates), however often the check runs. A new alert is written to the audit log and, when a
webhook URL is set, POSTed as JSON in a background task with a short timeout; a failing webhook
is logged and never raises into the check or the request path.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypedDict

import httpx
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from services.accounts.audit import Actor, record_event
from services.db import insert_unless_present
from services.tables import (
    ATTEMPT_ROLLUP_HOUR,
    USAGE_ROLLUP_DAY,
    AlertEvent,
    Provider,
    ProviderKey,
)
from services.usage.budgets import BudgetKind, budget_lines
from services.usage.queries import ADMIN, Viewer
from services.usage.rollups import DAY, HOUR
from services.usage.settings import AlertSettings, alert_settings
from services.usage.tables import ALERT_EVENT

log = logging.getLogger(__name__)
MONITOR = Actor(None, "alert monitor")
WEBHOOK_TIMEOUT = 5.0
_webhook_tasks: set[asyncio.Task[bool]] = set()

AlertKind = Literal["key_daily_tokens", "key_monthly_spend", "token_budget", "user_budget", "error_rate"]
Unit = Literal["tokens", "usd", "percent"]


@dataclass(frozen=True, slots=True)
class Reading:
    """A measured value against its limit, before thresholds are applied."""

    kind: AlertKind
    subject: str
    name: str
    period: str
    value: float
    limit: float
    owner_id: int | None
    unit: Unit


def _key_readings(session: Session, now: datetime) -> list[Reading]:
    today = int(now.timestamp()) // DAY * DAY
    table = USAGE_ROLLUP_DAY
    tokens_today = dict(session.execute(
        select(table.c.key_id, func.sum(table.c.prompt_tokens + table.c.completion_tokens))
        .where(table.c.bucket == today)
        .group_by(table.c.key_id)
    ).all())
    keys = session.exec(
        select(ProviderKey, Provider.name)
        .join(Provider, col(Provider.id) == ProviderKey.provider_id)
        .where(col(ProviderKey.daily_tokens).is_not(None))
    )
    day = now.strftime("%Y-%m-%d")
    return [
        Reading(
            "key_daily_tokens", f"key:{key.id}", f"{provider}/{key.label}", day,
            int(tokens_today.get(key.id, 0)), key.daily_tokens or 0, None, "tokens",
        )
        for key, provider in keys
    ]


def _budget_readings(engine: Engine, now: datetime) -> list[Reading]:
    kinds: dict[BudgetKind, AlertKind] = {"token": "token_budget", "user": "user_budget", "key": "key_monthly_spend"}
    month = now.strftime("%Y-%m")
    return [
        Reading(
            kinds[line.kind], f"{line.kind}:{line.subject_id}", line.name, month,
            line.spent_micros / 1e6, line.budget_micros / 1e6, line.owner_id, "usd",
        )
        for line in budget_lines(engine, ADMIN, now)
    ]


def _error_rate_readings(session: Session, now: datetime, settings: AlertSettings) -> list[Reading]:
    """Per provider: failed share of upstream calls in the current and the previous hour."""
    current = int(now.timestamp()) // HOUR * HOUR
    table = ATTEMPT_ROLLUP_HOUR
    rows = session.execute(
        select(table.c.provider, func.sum(table.c.tried), func.sum(table.c.failed))
        .where(table.c.bucket >= current - HOUR, table.c.provider != "")
        .group_by(table.c.provider)
    ).all()
    period = now.strftime("%Y-%m-%dT%H")
    return [
        Reading("error_rate", f"provider:{provider}", provider, period, 100 * int(failed) / int(tried), 100.0, None, "percent")
        for provider, tried, failed in rows
        if int(tried) >= settings.error_min_calls
    ]


def _describe(reading: Reading, level: int) -> str:
    if reading.kind == "error_rate":
        return f"Provider {reading.name}: {reading.value:.0f}% of upstream calls failed in the last hour (alert level {level}%)."
    what = {"key_daily_tokens": "daily token limit of key", "key_monthly_spend": "monthly spend limit of key",
            "token_budget": "monthly budget of token", "user_budget": "monthly budget of"}[reading.kind]
    if reading.unit == "usd":
        amounts = f"${reading.value:,.2f} of ${reading.limit:,.2f}"
    else:
        amounts = f"{reading.value:,.0f} of {reading.limit:,.0f} tokens"
    return f"{level}% of the {what} {reading.name} reached: {amounts}."


def _crossed(reading: Reading, settings: AlertSettings) -> list[int]:
    if reading.kind == "error_rate":
        return [round(settings.error_rate_percent)] if reading.value >= settings.error_rate_percent else []
    if reading.limit <= 0:
        return []
    share = 100 * reading.value / reading.limit
    return [level for level in settings.levels if share >= level]


class _AlertValues(TypedDict):
    """The columns of a new ``AlertEvent`` (its id is the database's, ``acknowledged_at`` starts empty)."""

    at: datetime
    kind: AlertKind
    subject: str
    level: int
    period: str
    value: float
    limit_value: float
    message: str
    user_id: int | None


def _insert_once(session: Session, values: _AlertValues) -> bool:
    """Insert an alert unless its (kind, subject, level, period) exists; True if inserted. (Whether a row came
    back tells, not ``rowcount``: psycopg's is -1 for this statement through the ORM.)"""
    statement = insert_unless_present(session.get_bind(), ALERT_EVENT).values(**values).returning(ALERT_EVENT.c.id)
    return session.execute(statement).first() is not None


def check_alerts(engine: Engine, now: datetime, settings: AlertSettings | None = None) -> list[AlertEvent]:
    """Fire every threshold crossed now that has not fired in its period yet; returns the new alerts."""
    settings = settings or alert_settings(engine)
    with Session(engine) as session:
        readings = [*_key_readings(session, now), *_error_rate_readings(session, now, settings)]
    readings += _budget_readings(engine, now)
    fired: list[AlertEvent] = []
    with Session(engine) as session:
        for reading in readings:
            for level in _crossed(reading, settings):
                values = _AlertValues(
                    at=now, kind=reading.kind, subject=reading.subject, level=level, period=reading.period,
                    value=reading.value, limit_value=reading.limit, message=_describe(reading, level), user_id=reading.owner_id,
                )
                if _insert_once(session, values):
                    fired.append(AlertEvent(**values))
        session.commit()
    for event in fired:
        detail = {"kind": event.kind, "level": event.level, "period": event.period, "message": event.message}
        record_event(engine, MONITOR, "alert.fired", event.subject, detail)
    return fired


# -- delivery ------------------------------------------------------------------------------------


def webhook_payload(event: AlertEvent) -> dict[str, Any]:
    return {
        "type": "llmhub.alert", "kind": event.kind, "subject": event.subject, "level": event.level, "period": event.period,
        "value": event.value, "limit": event.limit_value, "message": event.message,
        "at": event.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


async def post_webhook(client: httpx.AsyncClient, url: str, payload: dict[str, Any], *, timeout: float = WEBHOOK_TIMEOUT) -> bool:
    """POST one alert; True on a 2xx answer. Failures are logged, never raised."""
    try:
        response = await client.post(url, json=payload, timeout=timeout)
    except Exception as error:  # a webhook must never break the monitor
        log.warning("alert webhook failed: %s", type(error).__name__)
        return False
    if response.is_success:
        return True
    log.warning("alert webhook answered %s", response.status_code)
    return False


def send_webhooks(client: httpx.AsyncClient, url: str | None, events: list[AlertEvent]) -> None:
    """Deliver alerts in background tasks (the caller does not wait for them)."""
    if not url:
        return
    for event in events:
        task = asyncio.get_running_loop().create_task(post_webhook(client, url, webhook_payload(event)))
        _webhook_tasks.add(task)
        task.add_done_callback(_webhook_tasks.discard)


async def run_alert_check(engine: Engine, client: httpx.AsyncClient, now: datetime | None = None) -> list[AlertEvent]:
    """The scheduled job (and the console's "Check now"): check in a worker thread, deliver in the background."""
    settings = await asyncio.to_thread(alert_settings, engine)
    fired = await asyncio.to_thread(check_alerts, engine, now or datetime.now(UTC), settings)
    send_webhooks(client, settings.webhook_url, fired)
    return fired


# -- reading alerts back -------------------------------------------------------------------------


def _visible(viewer: Viewer) -> list[Any]:
    return [] if viewer.is_admin else [col(AlertEvent.user_id) == (viewer.user_id or -1)]


def list_alerts(
    engine: Engine, viewer: Viewer, *, limit: int = 25, offset: int = 0, open_only: bool = False,
) -> tuple[list[AlertEvent], int]:
    """Newest first: every alert for admins; a user's own token and budget alerts otherwise."""
    conditions = _visible(viewer) + ([col(AlertEvent.acknowledged_at).is_(None)] if open_only else [])
    with Session(engine) as session:
        total = session.exec(select(func.count()).select_from(AlertEvent).where(*conditions)).one()
        rows = list(session.exec(select(AlertEvent).where(*conditions).order_by(col(AlertEvent.id).desc()).offset(offset).limit(limit)))
    return rows, int(total)


def open_alert_count(engine: Engine, viewer: Viewer, now: datetime, *, within: timedelta = timedelta(days=31)) -> int:
    """Unacknowledged alerts of the last month the viewer may see (the badge on the usage and alerts pages)."""
    since = now - within
    conditions = [*_visible(viewer), col(AlertEvent.acknowledged_at).is_(None), col(AlertEvent.at) >= since]
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(AlertEvent).where(*conditions)).one())


def acknowledge(engine: Engine, actor: Actor, viewer: Viewer, alert_ids: list[int] | None = None) -> int:
    """Mark alerts (or all open ones the viewer may see) as seen; returns how many changed."""
    conditions = [*_visible(viewer), col(AlertEvent.acknowledged_at).is_(None)]
    if alert_ids is not None:
        conditions.append(col(AlertEvent.id).in_(alert_ids))
    with Session(engine) as session:
        rows = list(session.exec(select(AlertEvent).where(*conditions)))
        now = datetime.now(UTC)
        for row in rows:
            row.acknowledged_at = now
            session.add(row)
        session.commit()
    if rows:
        record_event(engine, actor, "alert.acknowledge", None, {"count": len(rows)})
    return len(rows)

"""The audit log: who did what, when, from where. Writes are small and synchronous on purpose
(an admin action is rare and must not be lost); reads are filtered and paged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from services.tables import AuditEvent


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a user (id + e-mail), the master key, or the config file; and from which address."""

    id: int | None
    name: str
    ip: str | None = None


MASTER_KEY_ACTOR = Actor(None, "master key")
CONFIG_FILE_ACTOR = Actor(None, "config file")


def record_event(engine: Engine, actor: Actor, action: str, target: str | None = None, detail: dict[str, Any] | None = None) -> None:
    with Session(engine) as session:
        session.add(AuditEvent(actor_id=actor.id, actor=actor.name, action=action, target=target, detail=detail, ip=actor.ip))
        session.commit()


@dataclass(frozen=True, slots=True)
class AuditFilter:
    action_prefix: str | None = None  # "login" matches login.success and login.failure
    actor: str | None = None
    text: str | None = None  # searched in target
    since: datetime | None = None
    until: datetime | None = None


def list_events(engine: Engine, filters: AuditFilter, *, limit: int = 50, offset: int = 0) -> tuple[list[AuditEvent], int]:
    """One page of events, newest first, and the total that match."""
    query = select(AuditEvent)
    if filters.action_prefix:
        query = query.where(col(AuditEvent.action).startswith(filters.action_prefix))
    if filters.actor:
        query = query.where(col(AuditEvent.actor).contains(filters.actor))
    if filters.text:
        query = query.where(col(AuditEvent.target).contains(filters.text))
    if filters.since is not None:
        query = query.where(col(AuditEvent.at) >= filters.since)
    if filters.until is not None:
        query = query.where(col(AuditEvent.at) < filters.until)
    with Session(engine) as session:
        total = session.exec(select(func.count()).select_from(query.subquery())).one()
        rows = list(session.exec(query.order_by(col(AuditEvent.id).desc()).offset(offset).limit(limit)))
    return rows, total

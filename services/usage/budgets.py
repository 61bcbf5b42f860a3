"""Monthly budgets as the usage page and the alerts read them: month-to-date spend from the daily
rollup against every token, person and key budget the viewer may see, projected to the month's end.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import func
from sqlalchemy import select as core_select  # the rollup tables are Core tables
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from services.accounts.audit import Actor, record_event
from services.errors import SettingError
from services.tables import USAGE_ROLLUP_DAY, GatewayToken, Provider, ProviderKey, User, UserBudget
from services.usage.queries import Viewer
from services.usage.settings import note_settings_write

BudgetKind = Literal["token", "user", "key"]


@dataclass(frozen=True, slots=True)
class BudgetLine:
    kind: BudgetKind
    subject_id: int
    name: str
    owner_id: int | None  # the user who may see this line besides admins
    budget_micros: int
    spent_micros: int
    projected_micros: int

    @property
    def share(self) -> float:
        return self.spent_micros / self.budget_micros if self.budget_micros else 0.0


def month_window(now: datetime) -> tuple[datetime, datetime]:
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    days = calendar.monthrange(start.year, start.month)[1]
    return start, start + timedelta(days=days)


def _project(spent: int, now: datetime) -> int:
    """Month-to-date spend extended linearly to the end of the month (at least one hour observed)."""
    start, end = month_window(now)
    elapsed = max((now - start).total_seconds(), 3600.0)
    return round(spent * (end - start).total_seconds() / elapsed)


def _month_spend(session: Session, dimension: str, since: datetime) -> dict[int, int]:
    table = USAGE_ROLLUP_DAY
    query = (
        core_select(table.c[dimension], func.sum(table.c.cost_micros))
        .where(table.c.bucket >= int(since.timestamp()), table.c[dimension] != 0)
        .group_by(table.c[dimension])
    )
    return {subject: int(cost) for subject, cost in session.execute(query)}


def budget_lines(engine: Engine, viewer: Viewer, now: datetime) -> list[BudgetLine]:
    """Month-to-date spend against every budget the viewer may see: tokens, users, and (admins) keys."""
    since, _ = month_window(now)
    mine = viewer.user_id if not viewer.is_admin else None
    lines: list[BudgetLine] = []
    with Session(engine) as session:
        tokens = session.exec(
            select(GatewayToken).where(col(GatewayToken.monthly_budget_micros).is_not(None), col(GatewayToken.revoked_at).is_(None))
        )
        token_spend = _month_spend(session, "token_id", since)
        for token in tokens:
            if mine is None or token.user_id == mine:
                spent = token_spend.get(token.id or 0, 0)
                lines.append(BudgetLine("token", token.id or 0, f"{token.name} (…{token.token_last4})", token.user_id,
                                        token.monthly_budget_micros or 0, spent, _project(spent, now)))
        user_spend = _month_spend(session, "user_id", since)
        for budget, email in session.exec(select(UserBudget, User.email).join(User, col(User.id) == UserBudget.user_id)):
            if mine is None or budget.user_id == mine:
                spent = user_spend.get(budget.user_id, 0)
                lines.append(BudgetLine(
                    "user", budget.user_id, email, budget.user_id, budget.monthly_budget_micros, spent, _project(spent, now),
                ))
        if viewer.is_admin:
            key_spend = _month_spend(session, "key_id", since)
            keys = session.exec(
                select(ProviderKey, Provider.name).join(Provider, col(Provider.id) == ProviderKey.provider_id)
                .where(col(ProviderKey.monthly_usd_micros).is_not(None))
            )
            for key, provider in keys:
                spent = key_spend.get(key.id or 0, 0)
                lines.append(BudgetLine(
                    "key", key.id or 0, f"{provider}/{key.label}", None, key.monthly_usd_micros or 0, spent, _project(spent, now),
                ))
    return lines


def set_user_budget(engine: Engine, actor: Actor, user_id: int, monthly_budget_micros: int | None) -> None:
    """Set or (with None) remove a person's monthly budget; the gateway enforces it from the next call."""
    if monthly_budget_micros is not None and monthly_budget_micros < 0:
        raise SettingError("A budget cannot be negative.")
    with Session(engine) as session:
        user = session.get(User, user_id)
        if user is None:
            raise SettingError(f"There is no user {user_id}.")
        row = session.get(UserBudget, user_id)
        if monthly_budget_micros is None:
            if row is not None:
                session.delete(row)
        else:
            session.merge(UserBudget(user_id=user_id, monthly_budget_micros=monthly_budget_micros))
        session.commit()
        email = user.email
    note_settings_write()
    usd = None if monthly_budget_micros is None else monthly_budget_micros / 1_000_000
    record_event(engine, actor, "budget.user", email, {"monthly_usd": usd})

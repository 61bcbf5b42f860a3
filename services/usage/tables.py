"""The Core tables behind the SQLModel classes that the usage code reads and writes in bulk.

Batched inserts, exports, rollup rebuilds and pruning work on ``Table`` objects, not ORM instances.
SQLModel's type stubs do not declare a table class's ``__table__`` (SQLAlchemy's declarative base
does), so it is read in one place, here.
"""

from __future__ import annotations

from sqlalchemy import Table
from sqlmodel import SQLModel

from services.tables import AlertEvent, AppSetting, StoredResponse, UsageBody, UsageRecord


def core_table(model: type[SQLModel]) -> Table:
    """The ``Table`` a SQLModel table class (``table=True``) is mapped to."""
    table = model.__table__  # type: ignore[attr-defined]  # present at run time, missing from SQLModel's stubs
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not a SQLModel table class")
    return table


USAGE_RECORD = core_table(UsageRecord)
USAGE_BODY = core_table(UsageBody)
APP_SETTING = core_table(AppSetting)
STORED_RESPONSE = core_table(StoredResponse)
ALERT_EVENT = core_table(AlertEvent)

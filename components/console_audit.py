"""Audit events for admin actions taken in the console, attributed to the signed-in user."""

from __future__ import annotations

from typing import Any

from nicegui import run

from app.runtime import get_hub
from components.account_ui import acting
from services.accounts.audit import record_event
from services.accounts.sessions import SessionUser


async def audit(user: SessionUser, action: str, target: str | None, **detail: Any) -> None:
    await run.io_bound(record_event, get_hub().engine, acting(user), action, target, detail or None)

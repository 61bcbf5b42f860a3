"""Times are stored in UTC and shown in the browser's own time zone: the browser converts them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from nicegui import ui

LOCAL_TIME_JS = "value => value ? new Date(value).toLocaleString([], {dateStyle: 'medium', timeStyle: 'short'}) : '—'"


def iso(moment: datetime | None) -> str | None:
    """For the browser: an ISO time with its zone (stored times are UTC)."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def time_column(name: str, label: str, **extra: Any) -> dict[str, Any]:
    """A ui.table column whose ISO value the browser shows as its local date and time."""
    return {"name": name, "label": label, "field": name, ":format": LOCAL_TIME_JS, "sortable": True, "align": "left", **extra}


async def local_midnight_utc(day: str, *, days_later: int = 0) -> datetime:
    """The UTC instant of midnight at the start of ``day`` (+ ``days_later``) in the browser's zone."""
    start = date.fromisoformat(day)
    midnight = json.dumps(start.isoformat() + "T00:00:00")
    iso_text = await ui.run_javascript(
        f"const d = new Date({midnight}); d.setDate(d.getDate() + {int(days_later)}); return d.toISOString();"
    )
    return datetime.fromisoformat(str(iso_text).replace("Z", "+00:00"))

"""Times are stored in UTC and shown in the browser's own time zone: the browser converts them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from nicegui import ui

LOCAL_TIME_JS = "value => value ? new Date(value).toLocaleString([], {dateStyle: 'medium', timeStyle: 'short'}) : '—'"
LOCAL_TIME_SECONDS_JS = (
    "value => value ? new Date(value).toLocaleString([], {month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', "
    "second: '2-digit', hourCycle: 'h23'}) : '—'"
)


def iso(moment: datetime | None) -> str | None:
    """For the browser: an ISO time with its zone (stored times are UTC)."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def time_column(name: str, label: str, **extra: Any) -> dict[str, Any]:
    """A ui.table column whose ISO value the browser shows as its local date and time."""
    return {"name": name, "label": label, "field": name, ":format": LOCAL_TIME_JS, "sortable": True, "align": "left", **extra}


def seconds_column(name: str, label: str, **extra: Any) -> dict[str, Any]:
    """``time_column`` for a request log: a compact ``Dec 7, 18:40:12`` on one line (calls a second apart told apart)."""
    return time_column(name, label, **{":format": LOCAL_TIME_SECONDS_JS, "classes": "whitespace-nowrap",
                                       "headerClasses": "whitespace-nowrap", **extra})


async def local_midnight_utc(day: str, *, days_later: int = 0) -> datetime:
    """The UTC instant of midnight at the start of ``day`` (+ ``days_later``) in the browser's zone."""
    start = date.fromisoformat(day)
    midnight = json.dumps(start.isoformat() + "T00:00:00")
    iso_text = await ui.run_javascript(
        f"const d = new Date({midnight}); d.setDate(d.getDate() + {int(days_later)}); return d.toISOString();"
    )
    return datetime.fromisoformat(str(iso_text).replace("Z", "+00:00"))

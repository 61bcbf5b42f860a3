"""The router's attempt trail for one request as a small table: which provider/model/key was
skipped, failed or served, why, and how long it took."""

from __future__ import annotations

from typing import Any

from nicegui import ui

COLUMNS = [
    {"name": "step", "label": "#", "field": "step", "align": "right"},
    {"name": "route", "label": "Provider / model", "field": "route", "align": "left"},
    {"name": "key", "label": "Key", "field": "key", "align": "left"},
    {"name": "outcome", "label": "Outcome", "field": "outcome", "align": "left"},
    {"name": "reason", "label": "Reason", "field": "reason", "align": "left"},
    {"name": "status", "label": "Status", "field": "status", "align": "right"},
    {"name": "ms", "label": "ms", "field": "ms", "align": "right"},
    {"name": "backoff", "label": "Backoff ms", "field": "backoff", "align": "right"},
]
OUTCOME_CELL = r"""
<q-td :props="props">
  <q-badge :color="{served: 'positive', failed: 'negative', skipped: 'grey-6', waiting: 'warning'}[props.row.outcome] || 'grey-6'"
           class="px-2 py-1 text-xs">{{ props.row.outcome }}</q-badge>
</q-td>
"""


def trail_rows(attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``RouteTrail.as_dicts()`` (missing fields left out) → table rows."""
    return [
        {
            "step": index,
            "route": f"{attempt.get('provider', '')}/{attempt.get('model', '')}",
            "key": attempt.get("key_label") or "—",
            "outcome": attempt.get("outcome", ""),
            "reason": " · ".join(str(part) for part in (attempt.get("reason"), attempt.get("error")) if part) or "—",
            "status": attempt.get("status") or "",
            "ms": attempt.get("ms", ""),
            "backoff": attempt.get("backoff_ms", ""),
        }
        for index, attempt in enumerate(attempts, start=1)
    ]


def attempt_trail(attempts: list[dict[str, Any]]) -> ui.table:
    table = ui.table(columns=COLUMNS, rows=trail_rows(attempts), row_key="step").classes("w-full")
    table.props("flat dense wrap-cells hide-bottom data-testid=attempt-trail")
    table.add_slot("body-cell-outcome", OUTCOME_CELL)
    return table

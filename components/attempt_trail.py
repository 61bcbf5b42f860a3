"""The router's attempt trail for one request as a small table: which provider/model/key was
skipped, failed or served, why, and how long it took; and "why this route": every candidate of the
request's model (``services.usage.route_choice``), why it was skipped or not reached, and its cost
at its own price for the request's tokens."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from services.gateway.pricing import format_usd

PHONE_HIDDEN = {"classes": "max-sm:hidden", "headerClasses": "max-sm:hidden"}
COLUMNS = [
    {"name": "step", "label": "#", "field": "step", "align": "right", **PHONE_HIDDEN},
    {"name": "route", "label": "Provider / model", "field": "route", "align": "left"},
    {"name": "key", "label": "Key", "field": "key", "align": "left"},
    {"name": "outcome", "label": "Outcome", "field": "outcome", "align": "left"},
    {"name": "reason", "label": "Reason", "field": "reason", "align": "left"},
    {"name": "status", "label": "Status", "field": "status", "align": "right", **PHONE_HIDDEN},
    {"name": "ms", "label": "ms", "field": "ms", "align": "right"},
    {"name": "backoff", "label": "Backoff ms", "field": "backoff", "align": "right", **PHONE_HIDDEN},
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


# -- why this route: every candidate of the model, and what became of it ------------------------------

REASONS = {
    "cooling": "key cooling down (a recent 429)", "failing": "failing repeatedly, resting", "circuit_open": "circuit open",
    "disabled": "key disabled", "invalid": "key invalid", "exhausted": "key out of quota", "too_long": "request too long for it",
    "over_rpm": "key over its requests per minute", "over_tpm": "key over its tokens per minute",
    "over_daily_tokens": "key over its daily tokens", "over_monthly_budget": "key over its monthly budget",
    "route_over_rpm": "route over its requests per minute", "route_over_tpm": "route over its tokens per minute",
    "route_over_daily_tokens": "route over its daily tokens", "route_over_monthly_budget": "route over its monthly budget",
    "lower_priority": "lower priority: an earlier tier served", "lower_key_priority": "a later key of the same route",
    "not_drawn": "same priority, the weighted draw put it later", "context_fallback": "only for requests too long for the others",
    "attempt_budget": "the call ran out of attempts first", "client_error": "the request itself was refused first",
    "rate_limited": "rate limited (429)", "upstream_5xx": "provider error (5xx)", "timeout": "timed out", "connection": "connection failed",
    "auth": "key refused (401/403)", "quota_exhausted": "provider quota exhausted", "stream_broken": "stream broke",
}
CANDIDATE_COLUMNS = [
    {"name": "route", "label": "Candidate", "field": "route", "align": "left"},
    {"name": "outcome", "label": "Outcome", "field": "outcome", "align": "left"},
    {"name": "reason", "label": "Why", "field": "reason", "align": "left"},
    {"name": "cost", "label": "Cost at its price", "field": "cost", "align": "right"},
]
CANDIDATE_CELL = r"""<q-td :props="props"><div style="overflow-wrap: anywhere">{{ props.value }}</div>
<div class="text-xs text-grey-7">{{ props.row.where }}</div></q-td>"""
CANDIDATE_OUTCOME_CELL = OUTCOME_CELL.replace("waiting: 'warning'", "waiting: 'warning', not_reached: 'blue-grey-4'").replace(
    "{{ props.row.outcome }}", "{{ props.row.outcome.replace('_', ' ') }}"
)


def candidate_rows(candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``route_choice`` lines → table rows (a line for a route the model no longer has says so)."""
    rows = []
    for index, line in enumerate(candidates):
        reason = REASONS.get(str(line["reason"]), str(line["reason"] or "—").replace("_", " "))
        cost = line["cost_usd"]
        order = "" if line["priority"] is None else f" · priority {line['priority']} · weight {line['weight']}"
        rows.append({
            "id": index, "route": f"{line['provider']}/{line['model']}", "outcome": line["outcome"] or "",
            "where": f"key {line['key'] or '—'}{order}",
            "reason": reason if line["current"] else f"{reason} (no longer a route of this model)",
            "cost": "unknown" if cost is None else format_usd(round(cost * 1_000_000)),
        })
    return rows


def candidate_table(candidates: list[dict[str, Any]]) -> ui.table:
    table = ui.table(columns=CANDIDATE_COLUMNS, rows=candidate_rows(candidates), row_key="id").classes("w-full")
    table.props('flat dense wrap-cells hide-bottom data-testid=route-candidates no-data-label="The model has no routes now"')
    table.add_slot("body-cell-route", CANDIDATE_CELL)
    table.add_slot("body-cell-outcome", CANDIDATE_OUTCOME_CELL)
    return table

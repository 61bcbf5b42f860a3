"""Admin: the audit log — who did what, when, from where — filtered and paged on the server."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from app.runtime import get_hub
from components.blocking import io_bound
from components.frame import console_page
from components.local_time import iso, local_midnight_utc, time_column
from components.table_cells import value_with_narrow_caption
from services.accounts.audit import AuditFilter, list_events
from services.accounts.sessions import SessionUser
from services.tables import AuditEvent

PAGE_SIZE = 25
SECONDARY = {"classes": "max-md:hidden", "headerClasses": "max-md:hidden"}
COLUMNS: list[dict[str, Any]] = [
    time_column("at", "When", sortable=False),
    {"name": "actor", "label": "Who", "field": "actor", "align": "left", **SECONDARY},
    {"name": "action", "label": "Action", "field": "action", "align": "left"},
    {"name": "target", "label": "Target", "field": "target", "align": "left",
     "classes": "break-all max-md:hidden", "headerClasses": "max-md:hidden"},
    {"name": "detail", "label": "Detail", "field": "detail", "align": "left", **SECONDARY},
    {"name": "ip", "label": "From", "field": "ip", "align": "left", **SECONDARY},
]
# On a phone the hidden "Who" and "Target" columns show under "When" and "Action".
WHEN_SLOT = value_with_narrow_caption("props.row.actor", "break-all")
ACTION_SLOT = r"""
<q-td :props="props">
  <q-badge outline :color="props.value.endsWith('failure') ? 'negative' : 'primary'" :label="props.value" />
  <div class="md:hidden text-caption text-grey-7 break-all whitespace-normal">{{ props.row.target }}</div>
</q-td>
"""


def event_row(event: AuditEvent) -> dict[str, Any]:
    detail = ", ".join(f"{key}: {value}" for key, value in (event.detail or {}).items())
    return {
        "id": event.id, "at": iso(event.at), "actor": event.actor or "—", "action": event.action,
        "target": event.target or "", "detail": detail, "ip": event.ip or "",
    }


class AuditPage:
    def __init__(self, kinds: list[str]) -> None:
        self.engine = get_hub().engine
        self.filters = AuditFilter()
        with ui.card().classes("w-full"):
            with ui.element("div").classes("w-full grid gap-3 grid-cols-1 sm:grid-cols-2 lg:grid-cols-5"):
                actions = {"": "All actions", **{kind: kind for kind in kinds}}
                self.kind = ui.select(actions, value="", label="Action").props("outlined dense")
                self.actor = ui.input("Who").props("outlined dense clearable debounce=400")
                self.text = ui.input("Target contains").props("outlined dense clearable debounce=400")
                self.since = ui.date_input("From").props("outlined dense clearable")
                self.until = ui.date_input("To").props("outlined dense clearable")
            for field in (self.kind, self.actor, self.text, self.since, self.until):
                field.classes("w-full").on_value_change(self.apply_filters)
        pagination = {"page": 1, "rowsPerPage": PAGE_SIZE, "rowsNumber": 0}
        self.table = ui.table(rows=[], columns=COLUMNS, row_key="id", pagination=pagination).classes("w-full")
        self.table.props('flat bordered :rows-per-page-options="[25, 50, 100]" no-data-label="No events match"')
        self.table.add_slot("body-cell-at", WHEN_SLOT)
        self.table.add_slot("body-cell-action", ACTION_SLOT)
        self.table.on("request", lambda e: self.load(e.args["pagination"]["page"], e.args["pagination"]["rowsPerPage"]))

    async def apply_filters(self) -> None:
        try:
            since = await local_midnight_utc(self.since.value) if self.since.value else None
            until = await local_midnight_utc(self.until.value, days_later=1) if self.until.value else None
        except ValueError:
            ui.notify("Dates look like 2026-11-23", type="warning")
            return
        self.filters = AuditFilter(
            action_prefix=f"{self.kind.value}." if self.kind.value else None, actor=(self.actor.value or "").strip() or None,
            text=(self.text.value or "").strip() or None, since=since, until=until,
        )
        await self.load(1, self.table.pagination.get("rowsPerPage") or PAGE_SIZE)

    async def load(self, page: int, per_page: int) -> None:
        per_page = per_page if per_page in (25, 50, 100) else PAGE_SIZE
        answer = await io_bound(list_events, self.engine, self.filters, limit=per_page, offset=(max(page, 1) - 1) * per_page)
        events, total = answer
        self.table.rows = [event_row(event) for event in events]
        self.table.pagination = {"page": page, "rowsPerPage": per_page, "rowsNumber": total}


@console_page("/audit", "Audit log", icon="policy", admin=True, order=90)
async def audit_page(user: SessionUser) -> None:
    kinds = await io_bound(get_hub().accounts.audit_action_kinds)
    page = AuditPage(kinds)
    await page.load(1, PAGE_SIZE)

"""The request log: every gateway request, filtered, searched and paged on the server; a row opens
its details with the router's attempt trail. Admins see everyone, a user their own requests."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from nicegui import ui

from app.runtime import get_hub
from components import url_state
from components.attempt_trail import attempt_trail, candidate_table
from components.blocking import io_bound
from components.charts import UTC_ZONE
from components.dialogs import transient_dialog
from components.filters import FilterBar, show_filtered_view
from components.frame import console_page
from components.local_time import iso, seconds_column
from components.paged_table import PagedTable
from components.snippet_tabs import server_url
from services.accounts.audit import Actor
from services.accounts.sessions import SessionUser
from services.usage.queries import Viewer, page_usage, usage_detail_for_request
from services.usage.route_choice import route_choice
from services.usage.settings import body_logging, set_body_logging

PATH = "/logs"
PAGE_SIZE = 25
NARROW = {"classes": "max-md:hidden", "headerClasses": "max-md:hidden"}
COLUMNS: list[dict[str, Any]] = [
    seconds_column("created_at", "Time", sortable=False),
    {"name": "user", "label": "User", "field": "user", "align": "left",
     "classes": "break-words max-md:hidden", "headerClasses": "max-md:hidden"},
    {"name": "model", "label": "Model", "field": "requested_model", "align": "left", "classes": "break-words"},
    {"name": "route", "label": "Served by", "field": "route", "align": "left", "classes": "break-words", **NARROW},
    {"name": "status", "label": "Status", "field": "status", "align": "left"},
    {"name": "tokens", "label": "Tokens", "field": "tokens", ":format": "v => v.toLocaleString()", **NARROW},
    {"name": "latency", "label": "Latency", "field": "latency_ms", ":format": "v => Math.round(v).toLocaleString() + ' ms'"},
    {"name": "attempts", "label": "Attempts", "field": "attempt_count", **NARROW},
]
STATUS_SLOT = r"""
<q-td :props="props">
  <q-badge :color="props.row.status === 'ok' ? 'positive' : props.row.status === 'error' ? 'negative' : 'grey-7'"
           :label="props.row.status === 'ok' ? props.row.http_status : (props.row.error_code || props.row.status)" class="px-2 py-1" />
</q-td>
"""
ATTEMPTS_SLOT = r"""
<q-td :props="props">
  {{ props.value }}
  <q-icon v-if="props.row.failover" name="alt_route" color="warning" size="18px" class="ml-1"><q-tooltip>failed over</q-tooltip></q-icon>
</q-td>
"""


def _row(record: dict[str, Any]) -> dict[str, Any]:
    route = f"{record['provider_name']}/{record['upstream_model']}" if record["provider_name"] else "—"
    return {**record, "created_at": iso(record["created_at"]), "route": route,
            "tokens": record["prompt_tokens"] + record["completion_tokens"]}


def _facts(detail: dict[str, Any], zone: ZoneInfo) -> list[tuple[str, str]]:
    cost = "unknown" if detail["cost_micros"] is None else f"${detail['cost_micros'] / 1e6:.6f}"
    ttft = "—" if detail["ttft_ms"] is None else f"{detail['ttft_ms']:,.0f} ms"
    served = (
        f"{detail['provider_name']}/{detail['upstream_model']} · key {detail['key']}"
        if detail["provider_name"] else "nothing (no upstream answered)"
    )
    return [
        ("Request id", detail["request_id"]), ("Time", detail["created_at"].astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")),
        ("User", detail["user"]), ("Token", detail["token"]), ("Model asked for", detail["requested_model"]), ("Served by", served),
        ("Status", f"{detail['status']} · HTTP {detail['http_status']}" + (f" · {detail['error_code']}" if detail["error_code"] else "")),
        ("Tokens", f"{detail['prompt_tokens']:,} in · {detail['completion_tokens']:,} out"), ("Cost", cost),
        ("Latency", f"{detail['latency_ms']:,.0f} ms · first token {ttft} · gateway {detail['overhead_ms'] or 0:.1f} ms"),
        ("Call", f"{detail['endpoint']} · {'stream' if detail['stream'] else 'no stream'} · from {detail['source']}"),
    ]


class LogView:
    def __init__(self, user: SessionUser, options: Any) -> None:
        self.user = user
        self.viewer = Viewer(user.id, user.is_admin)
        self.engine = get_hub().engine
        self.zone = UTC_ZONE
        self._bodies_on = False
        self.bar = FilterBar(options, is_admin=user.is_admin, on_change=self.reload, path=PATH, status=True, search=True,
                             default_range="24h")
        self.detail = url_state.UrlDetail(PATH, "request_id", self.show_request, self.bar.params)
        columns = COLUMNS if user.is_admin else [c for c in COLUMNS if c["name"] != "user"]
        self.table = PagedTable(columns, self.fetch, page_size=PAGE_SIZE, empty="No requests match", testid="request-log")
        self.table.table.add_slot("body-cell-status", STATUS_SLOT)
        self.table.table.add_slot("body-cell-attempts", ATTEMPTS_SLOT)
        self.table.table.props("hover").classes("cursor-pointer")
        self.table.table.on("row-click", lambda e: self.detail.open(e.args[1]["request_id"]))
        if user.is_admin:
            self._body_logging_card()

    async def reload(self) -> None:
        await self.table.reload()

    async def fetch(self, limit: int, offset: int, _sort: str | None, _descending: bool) -> tuple[list[dict[str, Any]], int]:
        state = await self.bar.state()
        filters = replace(state.filters, since=state.window.since, until=state.window.until)
        page = await io_bound(page_usage, self.engine, filters, viewer=self.viewer, limit=limit, offset=offset)
        return [_row(r) for r in page.rows], page.total

    async def show_request(self, request_id: str) -> ui.dialog | None:
        """One request's details, attempt trail and bodies; its id names it in the URL (``/logs?request_id=…``)."""
        detail = await io_bound(usage_detail_for_request, self.engine, request_id, viewer=self.viewer)
        if detail is None:
            ui.notify("That request is gone (pruned by retention) or not yours.", type="warning")
            return None
        with transient_dialog() as dialog, ui.card().classes("w-[56rem] max-w-full gap-3").props("data-testid=request-detail"):
            with ui.row().classes("w-full items-center gap-1"):
                ui.label("Request").classes("text-lg font-medium")
                ui.space()
                ui.button("Copy link", icon="link", on_click=lambda: self.detail.copy_link(server_url(), request_id)).props(
                    "flat dense no-caps"
                )
                ui.button(icon="close", on_click=dialog.close).props("flat round dense aria-label=Close")
            with ui.element("div").classes("w-full grid gap-x-4 gap-y-1 grid-cols-1 sm:grid-cols-[10rem_1fr]"):
                for label, value in _facts(detail, self.zone):
                    ui.label(label).classes("text-grey-7 text-sm")
                    ui.label(value).classes("text-sm break-words")
            ui.label("Attempt trail").classes("text-base font-medium mt-2")
            ui.label("Every candidate the router considered, in order: skipped (and why), failed (status, error, time, backoff) "
                     "or served.").classes("text-sm text-grey-7")
            attempt_trail(detail["attempts"])
            ui.label("Why this route").classes("text-base font-medium mt-2")
            ui.label("Every candidate of the model as it is routed now (routes × keys, in the router's order): what became of it, "
                     "why it was skipped or not reached, and what this call would have cost there.").classes("text-sm text-grey-7")
            hub = get_hub()
            candidate_table(route_choice(detail, hub.table, hub.pricing))  # memory only: the routing snapshot and prices
            self._bodies(detail)
        return dialog

    def _bodies(self, detail: dict[str, Any]) -> None:
        if detail["request_body"] is None and detail["response_body"] is None:
            ui.label("Bodies are not stored for this request (body logging was off).").classes("text-sm text-grey-7")
            return
        for title, body in (("Request body", detail["request_body"]), ("Response body", detail["response_body"])):
            if body is not None:
                ui.label(title).classes("text-base font-medium")
                ui.code(json.dumps(body, indent=2, ensure_ascii=False), language="json").classes("w-full max-h-80 overflow-auto shrink-0")

    def _body_logging_card(self) -> None:
        with ui.card().classes("w-full gap-2").props("flat bordered data-testid=body-logging"):
            ui.label("Body logging").classes("text-base font-medium")
            ui.label("When on, request and response bodies are stored with secrets redacted and shown in the request details; "
                     "raw records and bodies are pruned after the retention period. Off by default.").classes("text-sm text-grey-7")
            self.body_switch = ui.switch("Store request and response bodies", on_change=self._toggle_bodies)

    async def _toggle_bodies(self, event: Any) -> None:
        if event.value == self._bodies_on:
            return
        await io_bound(set_body_logging, self.engine, Actor(self.user.id, self.user.email), bool(event.value))
        self._bodies_on = bool(event.value)
        ui.notify(f"Body logging {'on' if event.value else 'off'}", type="positive")

    async def load_settings(self) -> None:
        if self.user.is_admin:
            self._bodies_on = await io_bound(body_logging, self.engine)
            self.body_switch.value = self._bodies_on


@console_page(PATH, "Logs", icon="receipt_long", order=55)
async def logs_page(user: SessionUser, request_id: str | None = None) -> None:
    """``/logs?request_id=…`` opens that request's details over the list (the parameter cannot be called
    ``request``: NiceGUI hands a page function's ``request`` parameter the HTTP request)."""
    views: list[LogView] = []
    url_state.on_history(lambda params: views[0].detail.follow(params) if views else None)  # before the page is sent
    view = await show_filtered_view(user, LogView)
    views.append(view)
    if request_id:
        await view.detail.open(request_id, from_url=True)

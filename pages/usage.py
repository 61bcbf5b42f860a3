"""Usage: KPIs, charts, the failover tax (admins), the user × model table, budgets and exports, all following one filter bar.

Everything is read from the rollups through ``services.usage.analytics`` with the signed-in person as the
viewer, so a user only ever gets their own numbers (the services enforce it, not this page).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nicegui import ui

from app.runtime import get_hub
from components.blocking import io_bound
from components.charts import (
    UTC_ZONE,
    chart_card,
    error_rate_chart,
    kpi_card,
    latency_chart,
    placeholder_figure,
    stacked_bars,
)
from components.export_panel import ExportPanel
from components.failover_panel import FailoverPanel
from components.filters import FilterBar, FilterState, show_filtered_view
from components.frame import console_page
from components.paged_table import PagedTable
from services.accounts.audit import Actor
from services.accounts.sessions import SessionUser
from services.errors import SettingError
from services.gateway.pricing import format_usd
from services.usage.alerts import open_alert_count
from services.usage.analytics import (
    Overview,
    breakdown,
    suggested_range,
    usage_overview,
)
from services.usage.budgets import BudgetLine, budget_lines, set_user_budget
from services.usage.cache_report import CacheReport, cache_report
from services.usage.failover import failover_report
from services.usage.queries import Viewer
from services.usage.settings import (
    MAX_RETENTION_DAYS,
    MIN_RETENTION_DAYS,
    retention_days,
    set_retention_days,
)

PAGE_SIZE = 10
SORTS = {"user": "user", "model": "model", "requests": "requests", "tokens": "tokens", "cost_usd": "cost", "errors": "errors"}
NARROW = {"classes": "max-sm:hidden", "headerClasses": "max-sm:hidden"}
BREAKDOWN_COLUMNS: list[dict[str, Any]] = [
    {"name": "user", "label": "User", "field": "user", "align": "left", "sortable": True, "classes": "break-words"},
    {"name": "model", "label": "Model", "field": "model", "align": "left", "sortable": True, "classes": "break-words"},
    {"name": "requests", "label": "Requests", "field": "requests", "sortable": True, ":format": "v => v.toLocaleString()", **NARROW},
    {"name": "tokens", "label": "Tokens", "field": "tokens", "sortable": True, ":format": "v => v.toLocaleString()", **NARROW},
    {"name": "cost_usd", "label": "Cost", "field": "cost", "sortable": True},
    {"name": "errors", "label": "Errors", "field": "errors", "sortable": True, **NARROW},
]
BUDGET_COLUMNS: list[dict[str, Any]] = [
    {"name": "kind", "label": "Budget", "field": "kind", "align": "left"},
    {"name": "name", "label": "For", "field": "name", "align": "left", "classes": "break-words"},
    {"name": "spent", "label": "Spent", "field": "spent"},
    {"name": "budget", "label": "Limit", "field": "budget"},
    {"name": "share", "label": "Used", "field": "share", "align": "left", "style": "min-width: 7rem"},
    {"name": "projected", "label": "Month-end projection", "field": "projected", **NARROW},
]
SHARE_SLOT = r"""
<q-td :props="props">
  <div class="text-xs mb-1">{{ Math.round(props.value * 100) }}%</div>
  <q-linear-progress :value="Math.min(props.value, 1)" rounded size="6px"
    :color="props.value >= 1 ? 'negative' : props.value >= 0.8 ? 'warning' : 'primary'" />
</q-td>
"""
PROJECTED_SLOT = r"""
<q-td :props="props" :class="props.row.over ? 'text-negative font-medium' : ''">{{ props.value }}</q-td>
"""


def _budget_row(line: BudgetLine) -> dict[str, Any]:
    return {
        "id": f"{line.kind}:{line.subject_id}", "kind": line.kind, "name": line.name, "spent": format_usd(line.spent_micros),
        "budget": format_usd(line.budget_micros), "share": round(line.share, 4), "projected": format_usd(line.projected_micros),
        "over": line.projected_micros > line.budget_micros,
    }


class UsageView:
    def __init__(self, user: SessionUser, options: Any) -> None:
        self.user = user
        self.viewer = Viewer(user.id, user.is_admin)
        self.engine = get_hub().engine
        self.zone = UTC_ZONE
        self.alerts = ui.row().classes("w-full")
        opening = suggested_range(options.first_used, datetime.now(UTC))
        self.bar = FilterBar(options, is_admin=user.is_admin, on_change=self.reload, path="/usage", stack=True, default_range=opening)
        self.range_note = ui.label("").classes("text-xs text-grey-7 -mt-2").props("data-testid=range-note")
        with ui.element("div").classes("w-full grid gap-3 grid-cols-2 md:grid-cols-3 xl:grid-cols-6"):
            self.kpis = {name: kpi_card(label, testid=f"kpi-{name}") for name, label in (
                ("requests", "Requests"), ("tokens", "Tokens"), ("cost", "Cost"), ("errors", "Error rate"), ("latency", "Median latency"),
                ("cache", "Cache hit rate"))}
        with ui.element("div").classes("w-full grid gap-3 grid-cols-1 lg:grid-cols-2"):
            self.charts = {
                "requests": chart_card("Requests", placeholder_figure(), testid="chart-requests"),
                "tokens": chart_card("Tokens", placeholder_figure(), testid="chart-tokens"),
                "cost_usd": chart_card("Cost", placeholder_figure(), testid="chart-cost"),
                "latency": chart_card("Latency and time to first token", placeholder_figure(), testid="chart-latency",
                                      caption="successful requests"),
            }
            self.charts["errors"] = chart_card("Error rate by provider", placeholder_figure(), testid="chart-errors",
                                             caption="failed share of upstream calls", wide=True)
        self.failover = FailoverPanel() if user.is_admin else None
        with ui.card().classes("w-full gap-2").props("flat bordered"):
            ui.label("Users × models").classes("text-base font-medium")
            self.table = PagedTable(BREAKDOWN_COLUMNS, self.fetch_breakdown, row_key="id", page_size=PAGE_SIZE,
                                    sort_by="cost_usd", empty="No usage in this range", testid="breakdown-table")
        ExportPanel(user.id, self.viewer, self.bar.state)
        with ui.card().classes("w-full gap-2").props("flat bordered data-testid=budgets"):
            ui.label("Budgets this month").classes("text-base font-medium")
            ui.label("Month-to-date spend (UTC month) against each budget, extended linearly to the month's end.").classes(
                "text-sm text-grey-7"
            )
            self.budgets = ui.table(rows=[], columns=BUDGET_COLUMNS, row_key="id").classes("w-full")
            self.budgets.props('flat dense wrap-cells no-data-label="No budgets set"')
            self.budgets.add_slot("body-cell-share", SHARE_SLOT)
            self.budgets.add_slot("body-cell-projected", PROJECTED_SLOT)
            if user.is_admin:
                self._user_budget_form(options.users)
        if user.is_admin:
            self._retention_card()

    async def reload(self) -> None:
        state = await self.bar.state()
        self.range_note.text = f"{state.window.since:%Y-%m-%d %H:%M} – {state.window.until:%Y-%m-%d %H:%M} UTC · {state.window.describe()}"
        overview = await io_bound(usage_overview, self.engine, state.filters, self.viewer, state.window,
                                      stack_by=state.stack_by, page_size=PAGE_SIZE)
        self._show(overview, state)
        self._show_cache(await io_bound(cache_report, self.engine, state.filters, self.viewer, state.window.since, state.window.until))
        await self.load_budgets()
        if self.failover is not None:  # last: it scans the window's troubled records, the rest is read from rollups
            self.failover.show(await io_bound(failover_report, self.engine, state.window))

    def _show(self, overview: Overview, state: FilterState) -> None:
        k = overview.kpis
        self.kpis["requests"].show(f"{k.requests:,}", f"{k.errors:,} errors")
        self.kpis["tokens"].show(f"{k.tokens:,}", f"{k.prompt_tokens:,} in · {k.completion_tokens:,} out")
        self.kpis["cost"].show(format_usd(k.cost_micros),
                               f"{k.cost_unknown:,} with unknown price" if k.cost_unknown else "")
        self.kpis["errors"].show("—" if k.error_rate is None else f"{k.error_rate:.1%}")
        self.kpis["latency"].show("—" if k.median_latency_ms is None else f"{k.median_latency_ms:,.0f} ms")
        width = state.window.width
        for metric in ("requests", "tokens", "cost_usd"):
            self.charts[metric].update_figure(stacked_bars(overview.series, metric, self.zone, width))
        self.charts["latency"].update_figure(latency_chart(overview.latency, self.zone, width))
        self.charts["errors"].update_figure(error_rate_chart(overview.provider_errors))
        self.table.show([_table_row(r) for r in overview.table.rows], overview.table.total, sort_by="cost_usd", descending=True)

    def _show_cache(self, report: CacheReport) -> None:
        rate = "—" if report.hit_rate is None else f"{report.hit_rate:.1%}"
        self.kpis["cache"].show(rate, f"{format_usd(report.saved_micros)} saved · {report.hits:,} hits")

    async def fetch_breakdown(self, limit: int, offset: int, sort_by: str | None, descending: bool) -> tuple[list[dict[str, Any]], int]:
        state = await self.bar.state()
        page = await io_bound(breakdown, self.engine, state.filters, self.viewer, state.window,
                                  limit=limit, offset=offset, sort=SORTS.get(sort_by or "", "cost"), descending=descending)
        return [_table_row(r) for r in page.rows], page.total

    async def load_budgets(self) -> None:
        now = datetime.now(UTC)
        lines = await io_bound(budget_lines, self.engine, self.viewer, now)
        self.budgets.rows = [_budget_row(line) for line in lines]
        count = await io_bound(open_alert_count, self.engine, self.viewer, now)
        self.alerts.clear()
        if count:
            with self.alerts, ui.link(target="/alerts").classes("no-underline").props("data-testid=alerts-banner"):
                ui.chip(f"{count} open alert{'s' if count != 1 else ''}", icon="notifications_active", color="warning").props("clickable")

    def _user_budget_form(self, users: dict[int, str]) -> None:
        people = {uid: name for uid, name in users.items() if uid}
        with ui.row().classes("w-full items-center gap-2"):
            who = ui.select(people, label="Person", with_input=True).props("outlined dense").classes("min-w-[14rem]")
            amount = ui.number("Monthly budget, USD", min=0, step=1, format="%.2f").props("outlined dense").classes("w-48")

            async def save(remove: bool) -> None:
                if who.value is None or (not remove and not amount.value):
                    ui.notify("Pick a person and an amount", type="warning")
                    return
                micros = None if remove else round(float(amount.value) * 1_000_000)
                try:
                    await io_bound(set_user_budget, self.engine, Actor(self.user.id, self.user.email), who.value, micros)
                except SettingError as error:
                    ui.notify(str(error), type="warning")
                    return
                ui.notify("Budget removed" if remove else "Budget saved", type="positive")
                await self.load_budgets()

            ui.button("Set", on_click=lambda: save(False)).props("unelevated no-caps")
            ui.button("Remove", on_click=lambda: save(True)).props("flat no-caps color=negative")

    def _retention_card(self) -> None:
        with ui.card().classes("w-full gap-2").props("flat bordered data-testid=retention"):
            ui.label("Retention").classes("text-base font-medium")
            ui.label("Raw request records older than this are deleted every hour. Charts, budgets and the users × models "
                     "table read hourly and daily rollups, which keep the whole history.").classes("text-sm text-grey-7")
            with ui.row().classes("items-center gap-2"):
                days = ui.number("Keep raw records (days)", min=MIN_RETENTION_DAYS, max=MAX_RETENTION_DAYS, step=1, format="%d")
                days.props("outlined dense").classes("w-56")

                async def save() -> None:
                    try:
                        await io_bound(set_retention_days, self.engine, Actor(self.user.id, self.user.email), int(days.value or 0))
                    except SettingError as error:
                        ui.notify(str(error), type="warning")
                        return
                    ui.notify(f"Raw records are kept {int(days.value)} days", type="positive")

                ui.button("Save", on_click=save).props("unelevated no-caps")
        self.retention_input = days

    async def load_settings(self) -> None:
        if self.user.is_admin:
            self.retention_input.value = await io_bound(retention_days, self.engine)


def _table_row(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "id": f"{row['user_id']}|{row['model']}", "cost": format_usd(round(row["cost_usd"] * 1_000_000))}


@console_page("/usage", "Usage", icon="insights", order=50)
async def usage_page(user: SessionUser) -> None:
    await show_filtered_view(user, UsageView)

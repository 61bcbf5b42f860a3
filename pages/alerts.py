"""Alerts: quota, budget and error-rate thresholds crossed, newest first. Admins see every alert
and set the thresholds and webhook; a user sees the alerts about their own tokens and budget."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nicegui import ui

from app.runtime import get_hub
from components.blocking import io_bound
from components.frame import console_page
from components.local_time import iso, time_column
from components.paged_table import PagedTable
from services.accounts.audit import Actor
from services.accounts.sessions import SessionUser
from services.errors import SettingError
from services.tables import AlertEvent
from services.usage.alerts import (
    acknowledge,
    list_alerts,
    open_alert_count,
    run_alert_check,
)
from services.usage.queries import Viewer
from services.usage.settings import AlertSettings, alert_settings, set_alert_settings

KIND_LABELS = {"key_daily_tokens": "key quota", "key_monthly_spend": "key spend", "token_budget": "token budget",
               "user_budget": "user budget", "error_rate": "error rate"}
COLUMNS: list[dict[str, Any]] = [
    time_column("at", "When", sortable=False),
    {"name": "kind", "label": "Kind", "field": "kind", "align": "left"},
    {"name": "message", "label": "Alert", "field": "message", "align": "left", "classes": "break-words"},
    {"name": "state", "label": "", "field": "state", "align": "left", "classes": "max-sm:hidden", "headerClasses": "max-sm:hidden"},
]
KIND_SLOT = r"""
<q-td :props="props">
  <q-badge outline :color="props.row.level >= 100 ? 'negative' : 'warning'" :label="props.value" />
</q-td>
"""
STATE_SLOT = r"""
<q-td :props="props">
  <q-badge :color="props.value === 'open' ? 'warning' : 'grey-6'" :label="props.value" />
</q-td>
"""


def _row(event: AlertEvent) -> dict[str, Any]:
    return {"id": event.id, "at": iso(event.at), "kind": KIND_LABELS.get(event.kind, event.kind), "level": event.level,
            "message": event.message, "state": "seen" if event.acknowledged_at else "open"}


class AlertsView:
    def __init__(self, user: SessionUser) -> None:
        self.user = user
        self.actor = Actor(user.id, user.email)
        self.viewer = Viewer(user.id, user.is_admin)
        self.engine = get_hub().engine
        with ui.row().classes("w-full items-center gap-2"):
            self.summary = ui.label("").classes("text-base").props("data-testid=alerts-summary")
            ui.space()
            ui.button("Mark all seen", icon="done_all", on_click=self.mark_seen).props("flat no-caps")
            if user.is_admin:
                ui.button("Check now", icon="refresh", on_click=self.check_now).props("outline no-caps data-testid=check-alerts")
        self.table = PagedTable(COLUMNS, self.fetch, page_size=25, empty="No alerts yet", testid="alert-list")
        self.table.table.add_slot("body-cell-kind", KIND_SLOT)
        self.table.table.add_slot("body-cell-state", STATE_SLOT)
        if user.is_admin:
            self._settings_card()

    async def fetch(self, limit: int, offset: int, _sort: str | None, _descending: bool) -> tuple[list[dict[str, Any]], int]:
        answer = await io_bound(list_alerts, self.engine, self.viewer, limit=limit, offset=offset)
        count = await io_bound(open_alert_count, self.engine, self.viewer, datetime.now(UTC))
        self.summary.text = f"{count} open alert{'s' if count != 1 else ''}" if count else "No open alerts"
        return [_row(e) for e in answer[0]], answer[1]

    async def mark_seen(self) -> None:
        changed = await io_bound(acknowledge, self.engine, self.actor, self.viewer, None)
        ui.notify(f"{changed} marked as seen" if changed else "Nothing open", type="positive" if changed else "info")
        await self.table.reload()

    async def check_now(self) -> None:
        fired = await run_alert_check(self.engine, get_hub().client)
        message = f"{len(fired)} new alert{'s' if len(fired) != 1 else ''}" if fired else "No new alerts"
        ui.notify(message, type="warning" if fired else "info")
        await self.table.reload()

    def _settings_card(self) -> None:
        with ui.card().classes("w-full gap-3").props("flat bordered data-testid=alert-settings"):
            ui.label("Thresholds").classes("text-base font-medium")
            ui.label("Checked every 20 seconds. Each threshold fires once per period: a key's daily tokens per UTC day, "
                     "spend budgets per month, a provider's error rate per hour. New alerts go to the audit log and, "
                     "if set, are POSTed as JSON to the webhook.").classes("text-sm text-grey-7")
            with ui.element("div").classes("w-full grid gap-3 grid-cols-1 sm:grid-cols-2 lg:grid-cols-4"):
                self.levels = ui.input("Quota and budget levels, %", placeholder="80, 100").props("outlined dense")
                self.error_rate = ui.number("Provider error rate above, %", min=1, max=100, step=1).props("outlined dense")
                self.min_calls = ui.number("…with at least N calls an hour", min=1, step=1, format="%d").props("outlined dense")
                self.webhook = ui.input("Webhook URL (optional)", placeholder="https://…").props("outlined dense clearable")
            ui.button("Save thresholds", on_click=self.save_settings).props("unelevated no-caps").classes("self-start")

    async def load_settings(self) -> None:
        if not self.user.is_admin:
            return
        settings = await io_bound(alert_settings, self.engine)
        self.levels.value = ", ".join(str(level) for level in settings.levels)
        self.error_rate.value = settings.error_rate_percent
        self.min_calls.value = settings.error_min_calls
        self.webhook.value = settings.webhook_url or ""

    async def save_settings(self) -> None:
        try:
            levels = tuple(int(part) for part in str(self.levels.value or "").replace(";", ",").split(",") if part.strip())
            wanted = AlertSettings(levels, float(self.error_rate.value or 0), int(self.min_calls.value or 0), self.webhook.value or None)
            await io_bound(set_alert_settings, self.engine, self.actor, wanted)
        except (SettingError, ValueError) as error:
            ui.notify(str(error) if isinstance(error, SettingError) else "Levels look like 80, 100", type="warning")
            return
        ui.notify("Thresholds saved", type="positive")


@console_page("/alerts", "Alerts", icon="notifications", order=65)
async def alerts_page(user: SessionUser) -> None:
    view = AlertsView(user)
    await ui.context.client.connected()
    await view.load_settings()
    await view.table.reload()

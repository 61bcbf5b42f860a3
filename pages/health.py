"""Provider health (admin): per provider and key the live state — circuit, cooldowns, quota use,
last error — and the last 24 hours' success rate, latency and time to first token. Refreshes
itself every few seconds. (The path is not ``/health``: that is the API's liveness probe.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from nicegui import ui

from app.runtime import get_hub
from components.blocking import io_bound
from components.charts import UTC_ZONE, browser_zone
from components.frame import console_page
from services.accounts.sessions import SessionUser
from services.gateway.provider_health import (
    CallStats,
    KeyHealthRow,
    ProviderHealthRow,
    provider_health,
)
from services.usage.settings import redact

REFRESH_SECONDS = 5
STATUS_COLORS = {"ok": "positive", "active": "positive", "degraded": "warning", "cooling": "warning", "down": "negative",
                 "invalid": "negative", "exhausted": "negative", "disabled": "grey-7",
                 "closed": "positive", "half-open": "warning", "open": "negative"}
KEY_COLUMNS: list[dict[str, Any]] = [
    {"name": "label", "label": "Key", "field": "label", "align": "left"},
    {"name": "status", "label": "Status", "field": "status", "align": "left"},
    {"name": "success", "label": "Success", "field": "success"},
    {"name": "latency", "label": "p50 / p95", "field": "latency"},
    {"name": "ttft", "label": "TTFT", "field": "ttft", "classes": "max-md:hidden", "headerClasses": "max-md:hidden"},
    {"name": "cooldowns", "label": "429s", "field": "cooldowns", "classes": "max-md:hidden", "headerClasses": "max-md:hidden"},
    {"name": "quota", "label": "Quota use", "field": "quota", "align": "left",
     "classes": "max-md:hidden", "headerClasses": "max-md:hidden"},
    {"name": "last_error", "label": "Last error", "field": "last_error", "align": "left", "classes": "break-words text-xs min-w-[10rem]"},
]
KEY_STATUS_SLOT = r"""
<q-td :props="props">
  <q-badge :color="props.row.color" :label="props.value" class="px-2 py-1" />
  <div v-if="props.row.until" class="text-xs text-grey-7 mt-1">until {{ new Date(props.row.until).toLocaleTimeString() }}</div>
</q-td>
"""


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def _latency(stats: CallStats) -> str:
    return "—" if stats.p50_ms is None else f"{_ms(stats.p50_ms)} / {_ms(stats.p95_ms)}"


def _key_row(key: KeyHealthRow, zone: ZoneInfo) -> dict[str, Any]:
    error = "—"
    if key.last_error:
        when = key.last_error_at.astimezone(zone).strftime("%m-%d %H:%M") if key.last_error_at else ""
        error = f"{when} {redact(key.last_error)}".strip()
    return {
        "id": key.key_id, "label": key.label, "status": key.status, "color": STATUS_COLORS.get(key.status, "grey-7"),
        "until": key.status_until.isoformat() if key.status_until else None, "success": _percent(key.stats.success_rate),
        "latency": _latency(key.stats), "ttft": _ms(key.stats.ttft_ms), "cooldowns": key.stats.rate_limited,
        "quota": " · ".join(key.quota) or "no limits", "last_error": error,
    }


def _badge(text: str) -> None:
    ui.badge(text, color=STATUS_COLORS.get(text, "grey-7")).classes("px-2 py-1")


def _stat(label: str, value: str) -> None:
    with ui.column().classes("gap-0"):
        ui.label(label).classes("text-xs uppercase tracking-wide text-grey-7")
        ui.label(value).classes("text-base font-medium")


def provider_card(provider: ProviderHealthRow, zone: ZoneInfo) -> None:
    with ui.card().classes("w-full gap-3").props(f"flat bordered data-testid=provider-{provider.name}"):
        with ui.row().classes("w-full items-center gap-2"):
            ui.label(provider.name).classes("text-lg font-medium")
            ui.label(provider.kind).classes("text-sm text-grey-7")
            _badge(provider.status)
            ui.space()
            ui.label("circuit").classes("text-sm text-grey-7")
            _badge(provider.circuit)
            if provider.consecutive_failures:
                ui.label(f"{provider.consecutive_failures} failures in a row").classes("text-sm text-negative")
        with ui.row().classes("gap-8 gap-y-2"):
            _stat("Calls, 24 h", f"{provider.stats.tried:,}")
            _stat("Success", _percent(provider.stats.success_rate))
            _stat("p50 / p95", _latency(provider.stats))
            _stat("Time to first token", _ms(provider.stats.ttft_ms))
            _stat("429s", f"{provider.stats.rate_limited:,}")
        table = ui.table(rows=[_key_row(k, zone) for k in provider.keys], columns=KEY_COLUMNS, row_key="id").classes("w-full")
        table.props('flat dense wrap-cells hide-bottom no-data-label="No keys"')
        table.add_slot("body-cell-status", KEY_STATUS_SLOT)


class HealthView:
    def __init__(self) -> None:
        self.zone = UTC_ZONE
        with ui.row().classes("w-full items-center gap-2"):
            ui.label("Live state, and statistics of the last 24 hours.").classes("text-sm text-grey-7")
            ui.space()
            self.updated = ui.label("").classes("text-xs text-grey-7").props("data-testid=health-updated")
        self.body = ui.column().classes("w-full gap-4")
        self.timer = ui.timer(REFRESH_SECONDS, self.refresh, active=False)

    async def refresh(self) -> None:
        hub = get_hub()
        rows = await io_bound(provider_health, hub.engine, hub.table, hub.states, hub.clock.now())
        self.body.clear()
        with self.body:
            if not rows:
                ui.label("No providers yet. Add one on the Keys page.").classes("text-grey-7")
            for provider in rows:
                provider_card(provider, self.zone)
        self.updated.text = f"updated {datetime.now(self.zone):%H:%M:%S}"


@console_page("/provider-health", "Health", icon="monitor_heart", admin=True, order=60)
async def health_page(user: SessionUser) -> None:
    view = HealthView()
    await ui.context.client.connected()
    view.zone = await browser_zone()
    await view.refresh()
    view.timer.active = True

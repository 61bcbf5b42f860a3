"""Plotly figures (plain dicts) and KPI cards for the usage, health and models pages.

Figures have transparent backgrounds and mid-grey text, so one figure reads well in light and dark
mode. Bucket times arrive in UTC; hourly buckets are shown in the browser's time zone, daily
buckets are UTC days and keep their date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nicegui import ui

from services.usage.analytics import LatencyPoint, ProviderErrors, Series
from services.usage.rollups import DAY

PALETTE = ("#4f46e5", "#0ea5e9", "#10b981", "#f59e0b", "#ef4444", "#8b5cf6", "#ec4899", "#14b8a6", "#94a3b8")
TEXT = "#8b93a7"
GRID = "rgba(148, 163, 184, 0.25)"
CONFIG = {"displayModeBar": False, "responsive": True}
METRICS = {"requests": (",d", ",d", ""), "tokens": (",d", ",d", ""), "cost_usd": (",.2~r", ",.6f", "$")}
"""metric → (axis tick format, hover format, prefix)."""
UTC_ZONE = ZoneInfo("UTC")


async def browser_zone() -> ZoneInfo:
    """The browser's time zone (UTC if it cannot be told)."""
    try:
        name = await ui.run_javascript("Intl.DateTimeFormat().resolvedOptions().timeZone")
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, TimeoutError, ValueError):
        return UTC_ZONE


def x_labels(buckets: list[datetime], zone: ZoneInfo, width: int) -> list[str]:
    if width == DAY:
        return [b.strftime("%Y-%m-%d") for b in buckets]
    return [b.astimezone(zone).strftime("%Y-%m-%d %H:%M") for b in buckets]


def _layout(*, y_format: str = "", y_prefix: str = "", empty: bool = False, blank: bool = False, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "height": 280, "margin": {"l": 48, "r": 12, "t": 8, "b": 36},
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)", "font": {"color": TEXT, "size": 11},
        "legend": {"orientation": "h", "y": -0.18, "x": 0}, "hovermode": "x unified",
        "xaxis": {"gridcolor": GRID, "linecolor": GRID, "automargin": True},
        "yaxis": {"gridcolor": GRID, "zerolinecolor": GRID, "rangemode": "tozero", "tickformat": y_format, "tickprefix": y_prefix,
                  "automargin": True},
        **extra,
    }
    if empty:
        layout["annotations"] = [{"text": "No usage in this range", "showarrow": False, "xref": "paper", "yref": "paper",
                                  "x": 0.5, "y": 0.5, "font": {"size": 13, "color": TEXT}}]
    if empty or blank:  # no data: no stray axes, ticks or grid around the message
        layout["xaxis"]["visible"] = layout["yaxis"]["visible"] = False
    return layout


def placeholder_figure() -> dict[str, Any]:
    """An empty chart of the right size, drawn before the data arrives (no axes: they would show a stray 0 to 1)."""
    return {"data": [], "layout": _layout(blank=True), "config": CONFIG}


def stacked_bars(series: Series, metric: str, zone: ZoneInfo, width: int) -> dict[str, Any]:
    """Requests, tokens or cost per bucket, one stacked trace per group."""
    tick_format, hover_format, prefix = METRICS[metric]
    x = x_labels(series.buckets, zone, width)
    data = [
        {"type": "bar", "name": stack.name, "x": x, "y": getattr(stack, metric), "marker": {"color": PALETTE[i % len(PALETTE)]},
         "hovertemplate": f"%{{fullData.name}}: {prefix}%{{y:{hover_format}}}<extra></extra>"}
        for i, stack in enumerate(series.stacks)
    ]
    layout = _layout(barmode="stack", bargap=0.15, y_format=tick_format, y_prefix=prefix, empty=not data)
    return {"data": data, "layout": layout, "config": CONFIG}


def latency_chart(points: list[LatencyPoint], zone: ZoneInfo, width: int) -> dict[str, Any]:
    x = x_labels([p.bucket for p in points], zone, width)
    lines = (
        ("p50", "p50_ms", PALETTE[0], "solid"),
        ("p95", "p95_ms", PALETTE[4], "solid"),
        ("time to first token", "ttft_ms", PALETTE[2], "dot"),
    )
    data = [
        {"type": "scatter", "mode": "lines+markers", "name": name, "x": x, "y": [getattr(p, field) for p in points],
         "line": {"color": color, "dash": dash, "width": 2}, "marker": {"size": 4}, "connectgaps": False,
         "hovertemplate": f"{name}: %{{y:,.0f}} ms<extra></extra>"}
        for name, field, color, dash in lines
    ]
    empty = all(getattr(p, field) is None for p in points for _, field, _, _ in lines)
    return {"data": data, "layout": _layout(y_format=",.0f", empty=empty, yaxis_title="ms"), "config": CONFIG}


def error_rate_chart(rates: list[ProviderErrors]) -> dict[str, Any]:
    data = [{
        "type": "bar", "x": [r.provider for r in rates], "y": [r.rate for r in rates],
        "marker": {"color": [PALETTE[4] if r.rate >= 0.25 else PALETTE[3] if r.rate > 0 else PALETTE[2] for r in rates]},
        "customdata": [[r.failed, r.tried] for r in rates],
        "hovertemplate": "%{x}: %{y:.1%} (%{customdata[0]} of %{customdata[1]} calls failed)<extra></extra>",
    }] if rates else []
    layout = _layout(y_format=".0%", empty=not rates, hovermode="closest", height=220)
    layout["yaxis"]["range"] = [0, max([0.1, *(r.rate * 1.15 for r in rates)])]
    return {"data": data, "layout": layout, "config": CONFIG}


def daily_cost_chart(days: list[dict[str, Any]]) -> dict[str, Any]:
    """Daily cost per UTC day: what was paid, and what the proposal would have paid."""
    x = [day["day"] for day in days]
    data = [
        {"type": "scatter", "mode": "lines+markers", "name": name, "x": x, "y": [day[field] for day in days],
         "line": {"color": color, "width": 2, "dash": dash}, "marker": {"size": 4},
         "hovertemplate": f"{name}: $%{{y:,.6f}}<extra></extra>"}
        for name, field, color, dash in (("recorded", "baseline_usd", PALETTE[8], "solid"),
                                         ("proposed", "proposed_usd", PALETTE[0], "dot"))
    ]
    return {"data": data, "layout": _layout(y_format=",.2~r", y_prefix="$", height=240), "config": CONFIG}


def chart_card(title: str, figure: dict[str, Any], *, testid: str, caption: str | None = None, wide: bool = False) -> ui.plotly:
    """A titled card holding a chart; ``wide`` spans both columns of a two-column grid."""
    with ui.card().classes("w-full min-w-0 gap-1" + (" lg:col-span-2" if wide else "")).props(f"flat bordered data-testid={testid}"):
        with ui.row().classes("w-full items-baseline gap-2"):
            ui.label(title).classes("text-base font-medium")
            if caption:
                ui.label(caption).classes("text-xs text-grey-7")
        return ui.plotly(figure).classes("w-full")


@dataclass(frozen=True, slots=True)
class KpiCard:
    value: ui.label
    caption: ui.label

    def show(self, value: str, caption: str = "") -> None:
        self.value.text = value
        self.caption.text = caption


def kpi_card(label: str, *, testid: str) -> KpiCard:
    """A small figure card; the page fills it with ``show``."""
    with ui.card().classes("min-w-0 gap-0 p-3").props(f"flat bordered data-testid={testid}"):
        ui.label(label).classes("text-xs uppercase tracking-wide text-grey-7")
        value = ui.label("…").classes("text-2xl font-semibold").props("data-testid=kpi-value")
        caption = ui.label("").classes("text-xs text-grey-7 min-h-[1rem]")
    return KpiCard(value, caption)

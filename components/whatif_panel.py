"""The routing what-if beside a model's route editor: "what would these routes have done over the last N days?"

It replays the model's recorded calls against the routes currently in the editor (saved or not) with
``services.usage.whatif`` on a worker thread, and shows what really happened beside what the proposal
predicts, the proposal's routes one by one, and the daily cost of both as a chart.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from nicegui import ui
from pydantic import ValidationError

from components.blocking import io_bound
from components.charts import daily_cost_chart
from services.errors import HubError
from services.gateway.pricing import format_usd
from services.hub import Hub
from services.usage.whatif import WhatIfRequest, what_if

WINDOWS = {1: "last day", 7: "last 7 days", 30: "last 30 days", 90: "last 90 days"}
SIDES: list[tuple[str, str, Callable[[dict[str, Any]], str]]] = [
    ("cost", "Cost", lambda side: format_usd(round(side["cost_usd"] * 1_000_000))),
    ("p50", "Median latency", lambda side: _ms(side["p50_ms"])),
    ("p95", "p95 latency", lambda side: _ms(side["p95_ms"])),
    ("failovers", "Failovers", lambda side: f"{side['failovers']:,}"),
    ("rate_limited", "Rate limited (429)", lambda side: f"{side['rate_limited']:,}"),
    ("failed", "Failed", lambda side: f"{side['failed']:,}"),
    ("unpriced", "Without a known price", lambda side: f"{side['unpriced']:,}"),
]
COMPARISON_COLUMNS: list[dict[str, Any]] = [
    {"name": "figure", "label": "", "field": "figure", "align": "left"},
    {"name": "baseline", "label": "Recorded", "field": "baseline", "align": "right"},
    {"name": "proposed", "label": "Proposed", "field": "proposed", "align": "right"},
]
ROUTE_CELL = r"""<q-td :props="props"><div style="overflow-wrap: anywhere">{{ props.value }}</div>
<div class="text-xs text-grey-7">{{ props.row.order }}</div></q-td>"""
ROUTE_COLUMNS: list[dict[str, Any]] = [
    {"name": "route", "label": "Route", "field": "route", "align": "left"},
    {"name": "share", "label": "Share", "field": "share", "align": "right"},
    {"name": "cost", "label": "Cost", "field": "cost", "align": "right"},
    {"name": "p50", "label": "p50", "field": "p50", "align": "right", "classes": "max-sm:hidden", "headerClasses": "max-sm:hidden"},
    {"name": "skipped", "label": "Skipped", "field": "skipped", "align": "right"},
    {"name": "failed", "label": "Failed tries", "field": "failed", "align": "right"},
]


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def comparison_rows(answer: dict[str, Any]) -> list[dict[str, str]]:
    """The side-by-side table: one row per figure, the recorded value and the proposal's."""
    return [{"id": key, "figure": label, "baseline": show(answer["baseline"]), "proposed": show(answer["proposed"])}
            for key, label, show in SIDES]


def route_rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"id": f"{index}", "route": f"{line['provider']}/{line['model']}",
         "order": f"priority {line['priority']} · weight {line['weight']}",
         "share": f"{line['share']:.0%}", "cost": format_usd(round(line["cost_usd"] * 1_000_000)) + (
             f" (+{line['unpriced']} unpriced)" if line["unpriced"] else ""),
         "p50": _ms(line["p50_ms"]), "skipped": f"{line['skipped']:,}", "failed": f"{line['failed_attempts']:,}"}
        for index, line in enumerate(answer["by_route"])
    ]


def delta_text(delta_usd: float) -> tuple[str, str]:
    """The cost difference with its sign, and its colour class: cheaper is good news."""
    micros = round(delta_usd * 1_000_000)
    if micros == 0:
        return "same cost", "text-grey-7"
    sign = "+" if micros > 0 else "−"
    return f"{sign}{format_usd(abs(micros))}", "text-negative" if micros > 0 else "text-positive"


class WhatIfPanel:
    """The replay form and its answer; ``routes`` reads the editor's routes when the button is pressed."""

    def __init__(self, hub: Hub, model: str, routes: Callable[[], list[dict[str, Any]]]) -> None:
        self.hub, self.model, self.routes = hub, model, routes
        with ui.column().classes("w-full gap-2").props(f"data-testid=whatif-{model}"):
            with ui.row().classes("w-full items-center gap-2"):
                self.days = ui.select(WINDOWS, value=30, label="Window").props("outlined dense").classes("w-40")
                self.button = ui.button("Replay these routes", icon="history", on_click=self.run).props("no-caps outline color=primary")
            self.result = ui.column().classes("w-full gap-2 min-w-0").props("data-testid=whatif-result")

    async def run(self) -> None:
        self.result.clear()
        with self.result:
            ui.spinner(size="md")
        self.button.disable()
        try:
            answer: dict[str, Any] | str = await self._replay()
        except (ValidationError, HubError) as error:  # a refused proposal (unknown provider or key…), said in words
            answer = _problem(error)
        if self.result.is_deleted:  # the panel was closed while the replay ran
            return
        self.button.enable()
        if isinstance(answer, str):
            self._message(answer, negative=True)
        else:
            self.show(answer)

    async def _replay(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        request = WhatIfRequest.model_validate(
            {"model": self.model, "routes": self.routes(), "since": now - timedelta(days=int(self.days.value)), "until": now}
        )
        hub = self.hub
        return await io_bound(what_if, hub.engine, hub.table, hub.pricing, request, now=now, policy=hub.replay_policy())

    def _message(self, text: str, *, negative: bool = False) -> None:
        self.result.clear()
        with self.result:
            ui.label(text).classes("text-sm " + ("text-negative" if negative else "text-grey-7")).props("data-testid=whatif-message")

    def show(self, answer: dict[str, Any]) -> None:
        if not answer["requests"]:
            self._message(f"No calls to {self.model} were recorded in the {WINDOWS[int(self.days.value)]}: nothing to replay.")
            return
        self.result.clear()
        delta, colour = delta_text(answer["delta_cost_usd"])
        with self.result:
            with ui.row().classes("w-full items-baseline gap-2"):
                ui.label(f"{answer['requests']:,} recorded calls replayed:").classes("text-sm")
                ui.label(delta).classes(f"text-lg font-semibold {colour}").props("data-testid=whatif-delta")
                ui.label("against what was paid").classes("text-sm text-grey-7")
            comparison = ui.table(columns=COMPARISON_COLUMNS, rows=comparison_rows(answer), row_key="id").classes("w-full")
            comparison.props("flat bordered dense hide-bottom data-testid=whatif-comparison")
            routes = ui.table(columns=ROUTE_COLUMNS, rows=route_rows(answer), row_key="id").classes("w-full")
            routes.props("flat bordered dense wrap-cells hide-bottom data-testid=whatif-routes")
            routes.add_slot("body-cell-route", ROUTE_CELL)
            with ui.card().classes("w-full min-w-0 gap-1").props("flat bordered data-testid=whatif-chart"):
                ui.label("Daily cost (UTC days)").classes("text-sm font-medium")
                ui.plotly(daily_cost_chart(answer["daily"])).classes("w-full")
            ui.label("Latency of a route that served nothing in the window is estimated from other models' calls to it; "
                     "limits and cooldowns are simulated on the recorded arrival times.").classes("text-xs text-grey-7")


def _problem(error: ValidationError | HubError) -> str:
    if isinstance(error, HubError):
        return error.message
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])

"""The leaderboard: Bradley–Terry ratings fitted on every blind vote, each with its 95 % interval (or a
"too few votes" mark), its record, and its median cost and latency per answer; the position-bias check;
one table per prompt template where votes were made from one."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from app.runtime import get_hub
from components.blocking import io_bound
from components.frame import console_page
from components.local_time import local_midnight_utc
from services.accounts.sessions import SessionUser
from services.compare.bradley_terry import PositionBias
from services.compare.leaderboard import MIN_VOTES, Leaderboard, Standing, best_value, leaderboard
from services.gateway.pricing import format_usd

ALL_VOTES = ""
PHONE_HIDDEN = {"classes": "max-sm:hidden", "headerClasses": "max-sm:hidden"}
COLUMNS: list[dict[str, Any]] = [
    {"name": "rank", "label": "#", "field": "rank", "align": "right", **PHONE_HIDDEN},
    {"name": "model", "label": "Model", "field": "model", "align": "left", "sortable": True},
    {"name": "rating", "label": "Rating (95 % interval)", "field": "rating", "align": "left", "sortable": True},
    {"name": "record", "label": "Won · lost · tied", "field": "record", "align": "right", **PHONE_HIDDEN},
    {"name": "games", "label": "Votes", "field": "games", "align": "right", "sortable": True, **PHONE_HIDDEN},
    {"name": "cost", "label": "Cost per answer", "field": "cost_sort", "align": "right", "sortable": True},
    {"name": "latency", "label": "Latency", "field": "latency", "align": "right", **PHONE_HIDDEN},
]
RATING_CELL = r"""
<q-td :props="props">
  <div class="row items-baseline no-wrap q-gutter-x-xs">
    <span class="text-weight-medium">{{ props.row.rating }}</span>
    <span v-if="props.row.interval" class="text-xs text-grey-7" data-testid="interval">{{ props.row.interval }}</span>
    <q-badge v-else outline color="grey-7" class="text-xs" data-testid="too-few-votes">too few votes</q-badge>
  </div>
  <div v-if="props.row.bar" class="relative-position q-mt-xs" style="height: 6px; width: 9rem; max-width: 100%;
       border-radius: 3px; background: rgba(148, 163, 184, 0.25)">
    <div class="absolute bg-primary" :style="{left: props.row.bar.left + '%', width: props.row.bar.width + '%', top: 0, bottom: 0,
         borderRadius: '3px', opacity: 0.55}"></div>
    <div class="absolute bg-primary" :style="{left: 'calc(' + props.row.bar.mark + '% - 1px)', width: '2px', top: '-2px',
         bottom: '-2px'}"></div>
  </div>
</q-td>
"""
COST_CELL = r"""
<q-td :props="props">
  {{ props.row.cost }}
  <br v-if="props.row.best_value" class="sm:hidden">
  <q-badge v-if="props.row.best_value" color="positive" class="sm:ml-1 text-xs" data-testid="best-value">best value
    <q-tooltip>The cheapest answer among the models whose interval overlaps the leader's</q-tooltip></q-badge>
</q-td>
"""


def _scale(board: list[Standing]) -> tuple[float, float]:
    """The rating range the interval bars are drawn on: every interval and rating fits."""
    points = [p for s in board for p in (s.rating, s.ci_low, s.ci_high) if p is not None]
    low, high = (min(points), max(points)) if points else (0.0, 1.0)
    return low, max(high, low + 1.0)


def table_rows(board: list[Standing]) -> list[dict[str, Any]]:
    low, high = _scale(board)
    span = high - low
    cheapest = best_value(board)

    def at(value: float) -> float:
        return round((value - low) / span * 100, 1)

    return [
        {"rank": rank, "model": s.model, "rating": round(s.rating), "games": s.votes,
         "interval": None if s.ci_low is None or s.ci_high is None else f"({s.ci_low:.0f}–{s.ci_high:.0f})",
         "bar": None if s.ci_low is None or s.ci_high is None else
         {"left": at(s.ci_low), "width": max(at(s.ci_high) - at(s.ci_low), 1.0), "mark": at(s.rating)},
         "record": f"{s.wins} · {s.losses} · {s.ties + s.both_bad}",
         "cost": format_usd(s.median_cost_micros) if s.median_cost_micros is not None else "—",
         "cost_sort": s.median_cost_micros if s.median_cost_micros is not None else float("inf"),
         "latency": "—" if s.median_latency_ms is None else f"{s.median_latency_ms:,.0f} ms", "best_value": s.model == cheapest}
        for rank, s in enumerate(board, start=1)
    ]


def bias_text(bias: PositionBias) -> tuple[str, bool]:
    """The position-bias check in words, and whether it is significant."""
    if bias.left_share is None or bias.p_value is None:
        return "Position bias: no decisive votes yet (ties do not count).", False
    share = f"The left column won {bias.left_wins} of {bias.decisive} decisive votes ({bias.left_share:.0%}); p = {bias.p_value:.3f}"
    if bias.biased:
        return f"{share}: more than chance allows. Voters favour a side; the blind mode's random sides keep the ratings fair.", True
    return f"{share}: no significant position bias.", False


class LeaderboardView:
    def __init__(self) -> None:
        self.engine = get_hub().engine
        with ui.row().classes("w-full items-end gap-3"):
            self.template = ui.select({ALL_VOTES: "All votes"}, value=ALL_VOTES, label="Votes from").props(
                "outlined dense data-testid=template-select"
            ).classes("min-w-[12rem]")
            self.since = ui.input("From", value="").props("type=date outlined dense clearable")
            self.until = ui.input("To", value="").props("type=date outlined dense clearable")
            ui.button("All time", on_click=lambda: (self.since.set_value(""), self.until.set_value(""))).props("flat no-caps")
        ui.label(
            "From blind votes on the Compare page and from scripts (POST /api/leaderboard/votes): Bradley–Terry ratings fitted on "
            "all votes at once (400 points = 10:1 odds; a tie or “both bad” scores ½ each), with a 95 % bootstrap interval once a "
            f"model has {MIN_VOTES} votes. Cost and latency are medians per answer over the last 30 days: read quality per dollar "
            "across a row; “best value” marks the cheapest model whose interval overlaps the leader's."
        ).classes("text-sm text-grey-7")
        self.bias = ui.label("").classes("text-sm").props("data-testid=position-bias")
        pagination = {"rowsPerPage": 25, "sortBy": "rating", "descending": True}
        self.table = ui.table(columns=COLUMNS, rows=[], row_key="model", pagination=pagination).classes("w-full")
        self.table.props("flat bordered wrap-cells data-testid=leaderboard")
        self.table.add_slot("body-cell-rating", RATING_CELL)
        self.table.add_slot("body-cell-cost", COST_CELL)
        self.table.add_slot(
            "no-data",
            '<div class="w-full text-center text-grey-7 p-4">No votes in this range yet: vote in blind mode on the Compare page.</div>',
        )
        for control in (self.template, self.since, self.until):
            control.on_value_change(self.refresh)
        ui.timer(0, self.refresh, once=True)

    async def refresh(self) -> None:
        start = await local_midnight_utc(self.since.value) if self.since.value else None
        end = await local_midnight_utc(self.until.value, days_later=1) if self.until.value else None
        board = await io_bound(leaderboard, self.engine, template=self.template.value or None, since=start, until=end)
        self.show(board)

    def show(self, board: Leaderboard) -> None:
        self.template.set_options({ALL_VOTES: "All votes", **{name: f"Template: {name}" for name in board.templates}},
                                  value=board.template or ALL_VOTES)
        text, biased = bias_text(board.position_bias)
        self.bias.text = text
        self.bias.classes(replace="text-sm " + ("text-warning" if biased else "text-grey-7"))
        self.table.rows = table_rows(board.standings)
        self.table.update()


@console_page("/leaderboard", "Leaderboard", icon="leaderboard", order=11)
def leaderboard_page(user: SessionUser) -> None:
    LeaderboardView()

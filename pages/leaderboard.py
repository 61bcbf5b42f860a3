"""The leaderboard: every model's blind-vote record and Bradley–Terry rating, for a chosen date range."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from app.runtime import get_hub
from components.blocking import io_bound
from components.frame import console_page
from components.local_time import local_midnight_utc
from services.accounts.sessions import SessionUser
from services.compare.leaderboard import Standing, standings

PHONE_HIDDEN = {"classes": "max-sm:hidden", "headerClasses": "max-sm:hidden"}
COLUMNS: list[dict[str, Any]] = [
    {"name": "rank", "label": "#", "field": "rank", "align": "right"},
    {"name": "model", "label": "Model", "field": "model", "align": "left", "sortable": True},
    {"name": "rating", "label": "Rating", "field": "rating", "align": "right", "sortable": True},
    {"name": "win_rate", "label": "Win rate", "field": "win_rate", "align": "right", "sortable": True},
    {"name": "wins", "label": "Wins", "field": "wins", "align": "right", "sortable": True, **PHONE_HIDDEN},
    {"name": "losses", "label": "Losses", "field": "losses", "align": "right", "sortable": True, **PHONE_HIDDEN},
    {"name": "ties", "label": "Ties", "field": "ties", "align": "right", "sortable": True, **PHONE_HIDDEN},
    {"name": "both_bad", "label": "Both bad", "field": "both_bad", "align": "right", "sortable": True, **PHONE_HIDDEN},
    {"name": "games", "label": "Votes", "field": "games", "align": "right", "sortable": True},
]


def table_rows(board: list[Standing]) -> list[dict[str, object]]:
    return [
        {"rank": rank, "model": s.model, "rating": round(s.rating), "win_rate": f"{s.win_rate:.0%}", "wins": s.wins,
         "losses": s.losses, "ties": s.ties, "both_bad": s.both_bad, "games": s.votes}
        for rank, s in enumerate(board, start=1)
    ]


@console_page("/leaderboard", "Leaderboard", icon="leaderboard", order=11)
def leaderboard_page(user: SessionUser) -> None:
    hub = get_hub()
    with ui.row().classes("w-full items-end gap-3"):
        since = ui.input("From", value="").props("type=date outlined dense clearable")
        until = ui.input("To", value="").props("type=date outlined dense clearable")
        ui.button("All time", on_click=lambda: (since.set_value(""), until.set_value(""))).props("flat no-caps")
    ui.label(
        "From blind votes on the Compare page: Bradley–Terry ratings fitted on all votes at once (400 points = 10:1 odds); "
        "a tie scores ½ each, and “both bad” also counts as a tie (shown in its own column). Win rate = wins / votes."
    ).classes("text-sm text-grey-7")
    pagination = {"rowsPerPage": 25, "sortBy": "rating", "descending": True}
    table = ui.table(columns=COLUMNS, rows=[], row_key="model", pagination=pagination).classes("w-full")
    table.props("flat bordered wrap-cells data-testid=leaderboard")
    table.add_slot(
        "no-data",
        '<div class="w-full text-center text-grey-7 p-4">No votes in this range yet: vote in blind mode on the Compare page.</div>',
    )

    async def refresh() -> None:
        start = await local_midnight_utc(since.value) if since.value else None
        end = await local_midnight_utc(until.value, days_later=1) if until.value else None
        board = await io_bound(standings, hub.engine, since=start, until=end)
        table.rows = table_rows(board)
        table.update()

    since.on_value_change(refresh)
    until.on_value_change(refresh)
    ui.timer(0, refresh, once=True)

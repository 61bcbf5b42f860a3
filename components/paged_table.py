"""A ui.table paged (and optionally sorted) on the server: only one page of rows ever reaches the browser."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui
from nicegui.events import ValueChangeEventArguments

PAGE_SIZES = (10, 25, 50, 100)
Fetch = Callable[[int, int, str | None, bool], Awaitable[tuple[list[dict[str, Any]], int]]]
"""(limit, offset, sort_by, descending) → (rows, total)."""


class PagedTable:
    def __init__(
        self, columns: list[dict[str, Any]], fetch: Fetch, *, row_key: str = "id", page_size: int = 25,
        sort_by: str | None = None, descending: bool = True, empty: str = "Nothing here yet", testid: str = "paged-table",
    ) -> None:
        self.fetch = fetch
        pagination = {"page": 1, "rowsPerPage": page_size, "rowsNumber": 0, "sortBy": sort_by, "descending": descending}
        self.table = ui.table(rows=[], columns=columns, row_key=row_key, pagination=pagination).classes("w-full")
        self.table.props(
            f'flat bordered wrap-cells :rows-per-page-options="{list(PAGE_SIZES)}" no-data-label="{empty}" data-testid={testid}'
        )
        self.table.on("request", lambda e: self.load(**_paging(e.args["pagination"])))
        self.table.on_pagination_change(self._keep_total)
        self.total = 0

    async def load(self, page: int = 1, per_page: int | None = None, sort_by: str | None = None, descending: bool | None = None) -> None:
        current = self.table.pagination
        per_page = per_page if per_page in PAGE_SIZES else current.get("rowsPerPage", 25)
        sort_by = sort_by if sort_by is not None else current.get("sortBy")
        descending = descending if descending is not None else current.get("descending", True)
        self.table.props("loading")
        try:
            answer = await self.fetch(per_page, (max(page, 1) - 1) * per_page, sort_by, bool(descending))
        finally:
            self.table.props(remove="loading")
        self.show(*answer, page=page, per_page=per_page, sort_by=sort_by, descending=bool(descending))

    def show(self, rows: list[dict[str, Any]], total: int, *, page: int = 1, per_page: int | None = None,
             sort_by: str | None = None, descending: bool | None = None) -> None:
        """Put a page of rows in (when the caller already fetched the first page with other data)."""
        current = self.table.pagination
        self.total = total
        self.table.rows = rows
        self.table.pagination = {
            "page": page, "rowsPerPage": per_page or current.get("rowsPerPage", 25), "rowsNumber": total,
            "sortBy": sort_by if sort_by is not None else current.get("sortBy"),
            "descending": descending if descending is not None else current.get("descending", True),
        }

    def _keep_total(self, event: ValueChangeEventArguments[dict[str, Any]]) -> None:
        """QTable echoes its first pagination (rowsNumber 0) when it mounts, and that echo may reach the server
        after the first page did: keep the real total. This runs inside ui.table's own pagination handler, right
        after it took the echo, so no other event can come in between."""
        if isinstance(event.value, dict) and event.value.get("rowsNumber") != self.total:
            self.table.pagination = {**event.value, "rowsNumber": self.total}

    async def reload(self) -> None:
        """Back to the first page (after a filter change)."""
        await self.load(1)


def _paging(pagination: dict[str, Any]) -> dict[str, Any]:
    return {"page": int(pagination.get("page") or 1), "per_page": int(pagination.get("rowsPerPage") or 25),
            "sort_by": pagination.get("sortBy"), "descending": bool(pagination.get("descending"))}

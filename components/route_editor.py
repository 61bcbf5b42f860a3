"""Edit a logical model's ordered routes: provider + upstream model, priority and weight per row;
move up/down, add, remove; problems shown under the field they concern before anything is saved.

The "Upstream model" field suggests the provider's own model list (fetched on demand, then cached by
the caller's ``Suggestions``). Each route is a block of its own (``_render_row``): per-route settings
that come later (limits, price, headers…) belong in an "Advanced" section at the end of that block."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nicegui import ui
from nicegui.elements.mixins.validation_element import ValidationElement

from components.catalog_forms import whole
from services.catalog.route_check import check_routes
from services.catalog.views import ProviderPublic, RoutePublic
from services.errors import CatalogError, UpstreamError

#: Added once per page (``ui.add_css``): a warning under a field is amber, an error red.
ROUTE_EDITOR_CSS = ".route-warning .q-field__messages { color: var(--q-warning); }"


SUGGESTIONS_SHOWN = 60


@dataclass(frozen=True, slots=True)
class Suggestions:
    """Where the upstream model names come from: ``cached`` (no network) and ``fetch`` (asks the provider)."""

    cached: Callable[[str], list[str] | None]
    fetch: Callable[[str], Awaitable[list[str]]]


class RouteEditor:
    def __init__(
        self, routes: Sequence[RoutePublic], providers: Sequence[ProviderPublic], suggestions: Suggestions | None = None
    ) -> None:
        self.providers = list(providers)
        self.suggestions = suggestions
        self.rows: list[dict[str, Any]] = [r.model_dump() for r in routes] or [self._blank()]
        self.fields: list[dict[str, ValidationElement[Any]]] = []
        self.container = ui.column().classes("w-full gap-1")
        self.render()

    def _blank(self) -> dict[str, Any]:
        return {"provider": self.providers[0].name if len(self.providers) == 1 else None, "model": "", "priority": 1, "weight": 1}

    def render(self) -> None:
        self.container.clear()
        self.fields = []
        with self.container:
            for index, row in enumerate(self.rows):
                self._render_row(index, row)
            ui.button("Add route", icon="add", on_click=self.add).props("flat dense no-caps color=primary")

    def _render_row(self, index: int, row: dict[str, Any]) -> None:
        names = [p.name for p in self.providers]
        if row["provider"] and row["provider"] not in names:
            names.append(row["provider"])
        with ui.row().classes(
            "w-full items-start gap-x-2 gap-y-0 flex-wrap sm:flex-nowrap max-sm:border-b max-sm:pb-2 border-slate-200 dark:border-slate-700"
        ).props(f"data-testid=route-{index}"):
            ui.label(f"{index + 1}.").classes("text-grey-7 pt-5 w-5 max-sm:hidden")
            provider = ui.select(names, label="Provider").bind_value(row, "provider").classes("w-full sm:w-44")
            model = self._model_field(index, row)
            ui.number("Priority", min=1, step=1).bind_value(row, "priority").classes("w-20")
            ui.number("Weight", min=1, step=1).bind_value(row, "weight").classes("w-20")
            with ui.row().classes("gap-0 no-wrap pt-3"):
                self._button("arrow_upward", f"Move route {index + 1} up", index > 0, lambda: self.move(index, -1))
                self._button("arrow_downward", f"Move route {index + 1} down", index < len(self.rows) - 1, lambda: self.move(index, 1))
                self._button("close", f"Remove route {index + 1}", len(self.rows) > 1, lambda: self.remove(index))
        self.fields.append({"provider": provider, "model": model})

    def _model_field(self, index: int, row: dict[str, Any]) -> ui.input:
        """The upstream model: typed freely, or picked from the provider's list (the button at its end)."""
        model = ui.input("Upstream model", placeholder="e.g. gpt-4o").bind_value(row, "model").classes("w-full sm:w-auto sm:grow")
        if self.suggestions is None:
            return model
        cached = self.suggestions.cached(row["provider"]) if row["provider"] else None
        model.set_autocomplete(cached or [])
        with model.add_slot("append"):
            button = ui.button(icon="expand_more").props(f'flat round dense aria-label="Model suggestions for route {index + 1}"')
            with button, ui.menu().props("anchor='bottom right' self='top right'") as menu:
                box = ui.list().props("dense").classes("min-w-[16rem] max-h-80 overflow-auto").props(f"data-testid=suggestions-{index}")
            menu.on_value_change(lambda event: self._show_suggestions(box, row, model, menu) if event.value else None)
        return model

    def _show_suggestions(self, box: ui.list, row: dict[str, Any], model: ui.input, menu: ui.menu) -> None:
        assert self.suggestions is not None
        box.clear()
        provider = row["provider"]
        with box:
            if not provider:
                ui.item("Choose a provider first").props("disable")
                return
            names = self.suggestions.cached(provider)
            if names is None:
                ui.item(f"Fetch models from {provider}", on_click=lambda: self._fetch(box, row, model, menu)).props("clickable")
                return
            typed = (row["model"] or "").strip().lower()
            shown = [name for name in names if typed in name.lower()] if typed and typed not in names else names
            for name in shown[:SUGGESTIONS_SHOWN]:
                ui.item(name, on_click=lambda n=name: self._pick(model, menu, n)).props("clickable")
            if len(shown) > SUGGESTIONS_SHOWN:
                ui.item(f"… {len(shown) - SUGGESTIONS_SHOWN} more: type to narrow").props("disable")
            if not shown:
                ui.item(f"No model of {provider} matches").props("disable")

    async def _fetch(self, box: ui.list, row: dict[str, Any], model: ui.input, menu: ui.menu) -> None:
        assert self.suggestions is not None
        provider = row["provider"]
        box.clear()
        with box:
            ui.item(f"Asking {provider} for its models…").props("disable")
        try:
            names = await self.suggestions.fetch(provider)
        except (UpstreamError, CatalogError) as error:
            box.clear()
            with box:
                ui.item(f"{provider}: {error.message}").classes("text-negative").props("disable")
            return
        model.set_autocomplete(names)
        self._show_suggestions(box, row, model, menu)

    @staticmethod
    def _pick(model: ui.input, menu: ui.menu, name: str) -> None:
        model.value = name
        menu.close()

    @staticmethod
    def _button(icon: str, label: str, enabled: bool, action: Any) -> None:
        button = ui.button(icon=icon, on_click=action).props(f'flat round dense color=grey-7 aria-label="{label}"')
        button.set_enabled(enabled)

    def add(self) -> None:
        self.rows.append(self._blank())
        self.render()

    def remove(self, index: int) -> None:
        del self.rows[index]
        self.render()

    def move(self, index: int, step: int) -> None:
        """Swap with the neighbour; when their priorities differ they swap too, so the new order is the order tried."""
        other = index + step
        first, second = self.rows[index], self.rows[other]
        if first["priority"] != second["priority"]:
            first["priority"], second["priority"] = second["priority"], first["priority"]
        self.rows[index], self.rows[other] = second, first
        self.render()

    def routes(self) -> list[dict[str, Any]]:
        return [
            {"provider": row["provider"], "model": (row["model"] or "").strip(),
             "priority": whole(row["priority"]) or 1, "weight": whole(row["weight"]) or 1}
            for row in self.rows
        ]

    def check(self) -> bool:
        """Mark every problem at its field; True when nothing blocks saving (warnings may remain)."""
        for fields in self.fields:
            for field in fields.values():
                field.error = None
                field.props.pop("hint", None)
                field.classes(remove="route-warning")
        issues = check_routes(self.routes(), self.providers)
        for issue in issues:
            marked = self.fields[issue.index][issue.field] if issue.index < len(self.fields) else None
            if marked is None:
                ui.notify(issue.message, type="negative")
            elif issue.blocking:
                marked.error = issue.message
            else:
                marked.props["hint"] = issue.message
                marked.classes("route-warning")
        return not any(issue.blocking for issue in issues)

    def show_error(self, index: int, field: str, message: str) -> bool:
        """Put a catalog error (``routes[i].provider``) under its field; False if there is no such field."""
        if index >= len(self.fields) or field not in self.fields[index]:
            return False
        self.fields[index][field].error = message
        return True

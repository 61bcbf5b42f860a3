"""A provider's model list (fetched on demand) with one-click "add these as models": each ticked upstream model
becomes a logical model of its own, named after it. Opened from the providers table, and right after a new
provider's first key is added."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from components.dialogs import transient_dialog
from services.catalog.discovery import AddedModels, Discovery, suggested_name
from services.errors import CatalogError, UpstreamError

Fetch = Callable[[bool], Awaitable[Discovery]]  # refresh → the list
Add = Callable[[list[str]], Awaitable[AddedModels]]  # upstream models → what was created


class DiscoveryDialog:
    def __init__(self, provider: str, fetch: Fetch, add: Add, *, taken: set[str], used_by: dict[str, list[str]],
                 intro: str | None = None) -> None:
        """``taken``: the logical model names in use; ``used_by``: upstream model → the logical models routing to it here."""
        self.provider = provider
        self.fetch = fetch
        self.add = add
        self.taken = taken
        self.used_by = used_by
        self.ticked: dict[str, ui.checkbox] = {}
        self.rows: dict[str, ui.row] = {}
        self.dialog = transient_dialog()
        with self.dialog, ui.card().classes("w-full max-w-xl gap-3").props("data-testid=discovery-dialog"):
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                ui.label(f"Models of {provider}").classes("text-lg font-medium grow")
                ui.button(icon="refresh", on_click=lambda: self.load(refresh=True)).props(
                    "flat round dense aria-label='Fetch the list again'"
                ).tooltip("Fetch the list again")
            if intro:
                ui.label(intro).classes("text-sm text-grey-7")
            self.filter = ui.input(placeholder="Filter").classes("w-full")
            self.filter.props("outlined dense clearable debounce=150 aria-label='Filter models'")
            self.filter.on_value_change(self._filter)
            self.body = ui.column().classes("w-full gap-0 max-h-[50vh] overflow-auto")
            with ui.row().classes("w-full items-center justify-end gap-2"):
                self.summary = ui.label().classes("text-sm text-grey-7 grow")
                ui.button("Close", on_click=self.dialog.close).props("flat no-caps")
                self.add_button = ui.button("Add as models", icon="playlist_add", on_click=self._add).props("no-caps color=primary")
        self.add_button.disable()

    async def open(self) -> None:
        self.dialog.open()
        await self.load()

    async def load(self, *, refresh: bool = False) -> None:
        self.body.clear()
        with self.body:
            ui.spinner(size="lg").classes("self-center my-4")
        try:
            discovery = await self.fetch(refresh)
        except (UpstreamError, CatalogError) as error:
            self.body.clear()
            with self.body:
                ui.label(f"{self.provider} did not list its models: {error.message}").classes("text-negative").props(
                    "data-testid=discovery-error"
                )
            return
        self._show(discovery)

    def _show(self, discovery: Discovery) -> None:
        self.body.clear()
        self.ticked, self.rows = {}, {}
        with self.body:
            if not discovery.models:
                ui.label("The provider lists no models.").classes("text-grey-7")
            for model in discovery.models:
                name = suggested_name(model.id)
                exists = name in self.taken
                with ui.row().classes("w-full items-center gap-2 no-wrap").props(f"data-testid=discovered-{model.id}") as row:
                    box = ui.checkbox(model.id, value=False).props("dense")
                    if exists:
                        box.disable()
                    notes = ["embeddings"] if model.embedding else []
                    if routed := self.used_by.get(model.id):
                        notes.append(f"routed by {', '.join(routed)}")
                    notes.append("a model of that name exists" if exists else f"as “{name}”" if name != model.id else "")
                    ui.label(" · ".join(note for note in notes if note)).classes("text-xs text-grey-7 truncate")
                box.on_value_change(self._count)
                self.ticked[model.id], self.rows[model.id] = box, row
        self._count()

    def _filter(self) -> None:
        text = (self.filter.value or "").strip().lower()
        for model_id, row in self.rows.items():
            row.set_visibility(not text or text in model_id.lower())

    def _count(self) -> None:
        chosen = [model_id for model_id, box in self.ticked.items() if box.value]
        self.summary.set_text(f"{len(chosen)} of {len(self.ticked)} chosen" if self.ticked else "")
        self.add_button.set_enabled(bool(chosen))

    async def _add(self) -> None:
        chosen = [model_id for model_id, box in self.ticked.items() if box.value]
        try:
            added = await self.add(chosen)
        except CatalogError as error:
            ui.notify(error.message, type="negative")
            return
        skipped = f"; skipped (name taken): {', '.join(added.skipped)}" if added.skipped else ""
        ui.notify(f"Added {len(added.created)} model(s): {', '.join(added.created)}{skipped}", type="positive", multi_line=True)
        self.dialog.close()

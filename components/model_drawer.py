"""One logical model in a side panel: its name and description, its routes, save or delete, and a try-it
box. Opened from the Models list (and named in its URL); a new model opens it empty.

The panel is built in sections (General, Routes, What if, Try it): per-model settings that come later (aliases,
retries, timeouts) are a section of their own between Routes and Try it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from nicegui import ui

from app.runtime import get_hub
from components.cache_settings import CacheSettingsForm
from components.dialogs import transient_dialog
from components.route_editor import RouteEditor, Suggestions
from components.secret_dialogs import confirm
from components.try_it import TryIt
from components.whatif_panel import WhatIfPanel
from services.accounts.sessions import SessionUser
from services.catalog.views import ModelPublic, ProviderPublic
from services.errors import CatalogError

ROUTE_FIELD = re.compile(r"routes\[(\d+)\]\.(provider|model)")
PANEL = "model-drawer w-[44rem] max-w-[100vw] h-screen max-h-screen no-shadow rounded-none gap-3 p-0"
DRAWER_CSS = ".q-dialog__inner:has(> .model-drawer) { padding: 0 !important; }"
"""Added once per page (``ui.add_css``): the side panel runs from the top of the window to its bottom."""


@dataclass(frozen=True, slots=True)
class ModelActions:
    """What the panel asks of the page: each raises CatalogError to keep the panel open with the message."""

    save: Callable[[str | None, dict[str, Any]], Awaitable[ModelPublic]]  # (the model's current name or None, data)
    delete: Callable[[str], Awaitable[None]]
    purge_cache: Callable[[str], Awaitable[int]]  # the model's cached answers deleted; how many


def section(title: str, hint: str | None = None) -> None:
    ui.label(title).classes("text-sm font-semibold uppercase tracking-wide text-grey-7 mt-2")
    if hint:
        ui.label(hint).classes("text-xs text-grey-7 -mt-2")


KEPT_ON_SAVE = {"aliases", "num_retries", "timeout", "stream_timeout"}


class ModelDrawer:
    def __init__(self, user: SessionUser, model: ModelPublic | None, providers: list[ProviderPublic], actions: ModelActions,
                 suggestions: Suggestions) -> None:
        self.model = model
        self.actions = actions
        name = model.name if model else "new"
        self.dialog = transient_dialog().props("position=right full-height")
        with self.dialog, ui.card().classes(PANEL).props(
            f"data-testid=model-{name}"
        ):
            with ui.row().classes("w-full items-center gap-2 px-4 pt-3 pb-2 border-b border-slate-200 dark:border-slate-700"):
                ui.icon("alt_route", size="22px").classes("text-primary")
                ui.label(model.name if model else "New model").classes("text-lg font-semibold grow truncate")
                ui.button(icon="close", on_click=self.dialog.close).props("flat round dense aria-label='Close'")
            with ui.scroll_area().classes("w-full grow px-4"), ui.column().classes("w-full gap-3 pb-4"):
                section("General")
                with ui.row().classes("w-full items-start gap-x-3 gap-y-0 flex-wrap"):
                    self.name = ui.input("Model name", value=model.name if model else "", placeholder="e.g. smart").classes(
                        "w-full sm:w-48"
                    )
                    self.description = ui.input("Description", value=(model.description or "") if model else "").classes(
                        "w-full sm:w-auto sm:grow"
                    )
                    self.enabled = ui.switch("Enabled", value=model.enabled if model else True).classes("pt-2")
                    self.drop_params = ui.switch("Drop unsupported parameters", value=model.drop_params if model else False).classes(
                        "pt-2").props("data-testid=drop-params")
                    self.drop_params.tooltip("A route that cannot honour n > 1, logprobs or a tool type gets the request without "
                                             "them (the call's record says so), instead of a 400 unsupported_parameter.")
                section("Routes", "Tried by priority (1 first); weight splits traffic within a priority.")
                self.editor = RouteEditor(model.routes if model else [], providers, suggestions)
                section("Response cache", "A repeated question is answered from the cache: no upstream call, no cost.")
                self.cache = CacheSettingsForm(model.cache if model else None, self.purge_cache if model else None)
                with ui.row().classes("w-full items-center gap-2"):
                    ui.button("Save" if model else "Create model", icon="save", on_click=self.save).props("no-caps color=primary")
                    if model:
                        ui.button("Delete", icon="delete", on_click=self.delete).props("no-caps flat color=negative")
                if model:
                    section("What if", "What would the routes above have done over the recorded calls to this model? "
                            "Nothing is saved or called: the calls are replayed at each route's price and limits.")
                    WhatIfPanel(get_hub(), model.name, self.editor.routes)
                    section("Try it", "A short call through the router, as a client's would go (metered as a console call).")
                    TryIt(user, model.name)
        if model is None:
            self.name.run_method("focus")

    def _data(self) -> dict[str, Any]:
        """The model as the panel shows it; what the panel does not edit (aliases, retries, timeouts, set
        in the YAML config or the API) is kept as it was, not reset by a save."""
        kept = {} if self.model is None else self.model.model_dump(include=KEPT_ON_SAVE)
        return {
            **kept, "name": self.name.value, "description": (self.description.value or "").strip() or None,
            "enabled": self.enabled.value, "drop_params": self.drop_params.value, "cache": self.cache.value(),
            "routes": self.editor.routes(),
        }

    async def save(self) -> None:
        self.name.error = self.description.error = None
        if not self.editor.check():
            ui.notify("Fix the marked routes first", type="warning")
            return
        try:
            saved = await self.actions.save(self.model.name if self.model else None, self._data())
        except CatalogError as error:
            self._show_error(error)
            return
        ui.notify(f"Model {saved.name} saved", type="positive")
        self.dialog.close()

    def _show_error(self, error: CatalogError) -> None:
        message = error.message.removeprefix(f"{error.field}: ")
        route = ROUTE_FIELD.fullmatch(error.field or "")
        if error.field in ("name", "model"):
            self.name.error = message
        elif error.field == "description":
            self.description.error = message
        elif (error.field or "").startswith("cache"):
            ui.notify(f"Response cache: {message}", type="negative")
        elif not (route and self.editor.show_error(int(route[1]), route[2], message)):
            ui.notify(error.message, type="negative")

    async def purge_cache(self) -> None:
        assert self.model is not None
        purged = await self.actions.purge_cache(self.model.name)
        ui.notify(f"{purged:,} cached answers of {self.model.name} purged", type="positive")

    async def delete(self) -> None:
        assert self.model is not None
        name = self.model.name
        if not await confirm(f"Delete model {name}?", "Clients asking for it get 404 model_not_found from then on.", action="Delete"):
            return
        try:
            await self.actions.delete(name)
        except CatalogError as error:
            ui.notify(error.message, type="negative")
            return
        self.dialog.close()

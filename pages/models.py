"""Logical models and their routes: edit, check and save; try a model through the router; export
and import the whole configuration (ours or LiteLLM's) with a preview."""

from __future__ import annotations

import re
from typing import Any

from nicegui import ui

from app.runtime import get_hub
from components.account_ui import acting
from components.blocking import io_bound
from components.config_import import ImportDialog
from components.frame import console_page
from components.route_editor import ROUTE_EDITOR_CSS, RouteEditor
from components.secret_dialogs import confirm
from components.try_it import TryIt
from services.accounts.sessions import SessionUser
from services.catalog.config_export import export_config
from services.catalog.config_file import EXPORT_FILE_NAME, ConfigReport, ImportPlan
from services.catalog.views import ModelPublic, ProviderPublic
from services.errors import CatalogError
from services.hub import Hub

ROUTE_FIELD = re.compile(r"routes\[(\d+)\]\.(provider|model)")


def load_models(hub: Hub) -> tuple[list[ProviderPublic], list[ModelPublic]]:
    return hub.catalog.list_providers(), hub.catalog.list_models()


class ModelCard:
    """One logical model (or a new one, ``model=None``): name, routes, save/delete, try it."""

    def __init__(self, page: ModelsPage, model: ModelPublic | None) -> None:
        self.page = page
        self.model = model
        with ui.card().classes("w-full gap-3").props(f"data-testid=model-{model.name if model else 'new'}") as self.card:
            with ui.row().classes("w-full items-start gap-x-3 gap-y-0 flex-wrap"):
                self.name = ui.input("Model name", value=model.name if model else "", placeholder="e.g. smart").classes("w-full sm:w-48")
                description = (model.description or "") if model else ""
                self.description = ui.input("Description", value=description).classes("w-full sm:w-auto sm:grow")
                self.enabled = ui.switch("Enabled", value=model.enabled if model else True).classes("pt-2")
            ui.label("Routes — tried by priority (1 first); weight splits traffic within a priority").classes("text-xs text-grey-7")
            self.editor = RouteEditor(model.routes if model else [], page.providers)
            with ui.row().classes("w-full items-center gap-2"):
                ui.button("Save" if model else "Create model", icon="save", on_click=self.save).props("no-caps color=primary")
                if model:
                    ui.button("Delete", icon="delete", on_click=self.delete).props("no-caps flat color=negative")
                else:
                    ui.button("Discard", on_click=self.card.delete).props("no-caps flat")
            if model:
                ui.separator()
                TryIt(page.user, model.name)

    def _data(self) -> dict[str, Any]:
        return {
            "name": self.name.value, "description": (self.description.value or "").strip() or None,
            "enabled": self.enabled.value, "routes": self.editor.routes(),
        }

    async def save(self) -> None:
        self.name.error = self.description.error = None
        if not self.editor.check():
            ui.notify("Fix the marked routes first", type="warning")
            return
        catalog = self.page.hub.catalog
        actor = acting(self.page.user)
        try:
            if self.model is None:
                saved = await io_bound(catalog.create_model, actor, self._data())
            else:
                saved = await io_bound(catalog.replace_model, actor, self.model.name, self._data())
        except CatalogError as error:
            self._show_error(error)
            return
        ui.notify(f"Model {saved.name} saved", type="positive")
        await self.page.reload()

    def _show_error(self, error: CatalogError) -> None:
        message = error.message.removeprefix(f"{error.field}: ")
        route = ROUTE_FIELD.fullmatch(error.field or "")
        if error.field in ("name", "model"):
            self.name.error = message
        elif error.field == "description":
            self.description.error = message
        elif not (route and self.editor.show_error(int(route[1]), route[2], message)):
            ui.notify(error.message, type="negative")

    async def delete(self) -> None:
        assert self.model is not None
        name = self.model.name
        if not await confirm(f"Delete model {name}?", "Clients asking for it get 404 model_not_found from then on.", action="Delete"):
            return
        try:
            await io_bound(self.page.hub.catalog.delete_model, acting(self.page.user), name)
        except CatalogError as error:
            ui.notify(error.message, type="negative")
            return
        await self.page.reload()


class ModelsPage:
    def __init__(self, user: SessionUser) -> None:
        self.user = user
        self.hub = get_hub()
        self.providers: list[ProviderPublic] = []
        with ui.row().classes("w-full items-center gap-2"):
            ui.label("Clients ask for a logical model by name; the router tries its routes in order.").classes("text-grey-7 grow")
            ui.button("New model", icon="add", on_click=self.new_model).props("no-caps color=primary")
            ui.button("Export YAML", icon="download", on_click=self.export).props("no-caps outline color=primary")
            ui.button("Import…", icon="upload", on_click=lambda: ImportDialog(acting(self.user), self.imported)).props(
                "no-caps outline color=primary"
            )
        self.new_area = ui.column().classes("w-full gap-4")
        self.list = ui.column().classes("w-full gap-4")

    async def reload(self) -> None:
        loaded = await io_bound(load_models, self.hub)
        self.providers, models = loaded
        self.new_area.clear()
        self.list.clear()
        with self.list:
            if not self.providers:
                with ui.card().classes("w-full items-center p-6"):
                    ui.label("No providers yet").classes("text-lg font-medium")
                    ui.link("Add a provider and its keys first", "/keys")
            elif not models:
                ui.label("No models yet: create one with “New model”.").classes("text-grey-7")
            for model in models:
                ModelCard(self, model)

    def new_model(self) -> None:
        if not self.providers:
            ui.notify("Add a provider on the Keys page first", type="warning")
            return
        with self.new_area:
            card = ModelCard(self, None)
        card.name.run_method("focus")

    async def export(self) -> None:
        text = await io_bound(export_config, self.hub, acting(self.user))
        ui.download.content(text.encode(), EXPORT_FILE_NAME, "application/yaml")

    async def imported(self, report: ConfigReport, plan: ImportPlan) -> None:
        ui.notify(f"Imported: {report}", type="positive", multi_line=True)
        await self.reload()


@console_page("/models", "Models", icon="alt_route", admin=True, order=40)
async def models_page(user: SessionUser) -> None:
    ui.add_css(ROUTE_EDITOR_CSS)
    page = ModelsPage(user)
    await page.reload()

"""Logical models: a searchable list (name, routes, status) and a side panel per model to edit its routes and
try it; export and import the whole configuration (ours or LiteLLM's) with a preview.

``/models?model=smart`` opens that model's panel (reload, bookmarks, shared links, Back)."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from app.runtime import get_hub
from components import url_state
from components.account_ui import acting
from components.blocking import io_bound
from components.config_import import ImportDialog
from components.frame import console_page
from components.key_table import PHONE
from components.model_drawer import DRAWER_CSS, ModelActions, ModelDrawer
from components.route_editor import ROUTE_EDITOR_CSS, Suggestions
from services.accounts.sessions import SessionUser
from services.catalog.config_export import EXPORT_FILE_NAME, export_config
from services.catalog.config_file import ConfigReport, ImportPlan
from services.catalog.model_status import model_status
from services.catalog.views import ModelPublic, ProviderPublic
from services.hub import Hub

PATH = "/models"
STATUS_REFRESH_SECONDS = 5.0
COLUMNS: list[dict[str, Any]] = [
    {"name": "name", "label": "Model", "field": "name", "align": "left", "sortable": True},
    {"name": "routes", "label": "Routes (in order)", "field": "routes", "align": "left"},
    {"name": "status", "label": "Status", "field": "status", "align": "left", "sortable": True},
]
NAME = r"""<div class="font-medium">{{ props.row.name }}
  <q-badge v-if="!props.row.enabled" color="grey-6" outline class="q-ml-xs">disabled</q-badge></div>
<div v-if="props.row.description" class="text-xs text-grey-7 ellipsis" style="max-width: 22rem">{{ props.row.description }}</div>"""
ROUTES = r"""<div class="row items-center q-gutter-xs">
  <template v-for="(route, i) in props.row.route_list" :key="i">
    <q-icon v-if="i > 0" name="chevron_right" size="14px" class="text-grey-6" />
    <code class="text-xs">{{ route }}</code>
  </template>
  <span v-if="!props.row.route_list.length" class="text-grey-7 text-xs">no routes</span>
</div>"""
STATUS = r"""<q-badge :color="{ready: 'positive', degraded: 'warning', unavailable: 'negative', disabled: 'grey-6'}[props.row.status]"
  class="px-2 py-1 text-xs" :data-testid="'model-status-' + props.row.name">{{ props.row.status }}</q-badge>
<div class="text-xs text-grey-7 q-mt-xs">{{ props.row.status_detail }}</div>"""
CARD = rf"""
<div class="q-pa-xs col-12">
  <q-card flat bordered class="cursor-pointer" @click="$parent.$emit('open', props.row.name)">
    <q-card-section class="q-py-sm">
      <div class="row items-start no-wrap q-gutter-x-sm"><div class="col">{NAME}</div><div>{STATUS}</div></div>
      <div class="q-mt-xs">{ROUTES}</div>
    </q-card-section>
  </q-card>
</div>
"""


def load_catalog(hub: Hub) -> tuple[list[ProviderPublic], list[ModelPublic]]:
    return hub.catalog.list_providers(), hub.catalog.list_models()


class ModelsPage:
    def __init__(self, user: SessionUser) -> None:
        self.user = user
        self.hub = get_hub()
        self.providers: list[ProviderPublic] = []
        self.models: dict[str, ModelPublic] = {}
        self.detail = url_state.UrlDetail(PATH, "model", self.show_model)
        with ui.row().classes("w-full items-center gap-2"):
            self.search = ui.input(placeholder="Search models, providers, upstream models").props(
                "outlined dense clearable debounce=200 aria-label='Search models'"
            ).classes("grow min-w-[14rem]")
            with self.search.add_slot("prepend"):
                ui.icon("search")
            ui.button("New model", icon="add", on_click=self.new_model).props("no-caps color=primary")
            ui.button("Export YAML", icon="download", on_click=self.export).props("no-caps outline color=primary")
            ui.button("Import…", icon="upload", on_click=lambda: ImportDialog(acting(self.user), self.imported)).props(
                "no-caps outline color=primary"
            )
        self.empty = ui.column().classes("w-full")
        self.table = ui.table(columns=COLUMNS, rows=[], row_key="name", pagination={"rowsPerPage": 25, "sortBy": "name"})
        self.table.classes("w-full cursor-pointer").props(f'flat bordered wrap-cells hover data-testid=model-list :grid="{PHONE}"')
        self.table.props("no-data-label='No models yet: create one with “New model”.' no-results-label='No model matches the search.'")
        self.table.add_slot("body-cell-name", f'<q-td :props="props">{NAME}</q-td>')
        self.table.add_slot("body-cell-routes", f'<q-td :props="props">{ROUTES}</q-td>')
        self.table.add_slot("body-cell-status", f'<q-td :props="props">{STATUS}</q-td>')
        self.table.add_slot("item", CARD)
        self.table.bind_filter_from(self.search, "value")
        self.table.on("row-click", lambda event: self.detail.open(event.args[1]["name"]))
        self.table.on("open", lambda event: self.detail.open(str(event.args)))
        ui.timer(STATUS_REFRESH_SECONDS, self.show_rows)

    # -- data -----------------------------------------------------------------------------------------

    async def reload(self) -> None:
        self.providers, models = await io_bound(load_catalog, self.hub)
        self.models = {model.name: model for model in models}
        self.empty.clear()
        if not self.providers:
            with self.empty, ui.card().classes("w-full items-center p-6"):
                ui.label("No providers yet").classes("text-lg font-medium")
                ui.link("Add a provider and its keys first", "/keys")
        self.show_rows()

    def show_rows(self) -> None:
        """Rows with each model's live status (memory only: cheap on a timer); the browser hears only of changes."""
        rows = [self._row(model) for model in self.models.values()]
        if rows != self.table.rows:
            self.table.rows = rows
            self.table.update()

    def _row(self, model: ModelPublic) -> dict[str, Any]:
        status = model_status(model, self.hub.table, self.hub.states)
        routes = [f"{route.provider}/{route.model}" for route in model.routes]
        return {
            "name": model.name, "description": model.description or "", "enabled": model.enabled, "route_list": routes,
            "routes": " ".join(routes), "status": status.state, "status_detail": status.detail,
        }

    # -- the side panel ------------------------------------------------------------------------------

    def suggestions(self) -> Suggestions:
        discovery = self.hub.discovery

        def cached(provider: str) -> list[str] | None:
            found = discovery.cached(provider)
            return None if found is None else found.ids

        async def fetch(provider: str) -> list[str]:
            return (await discovery.fetch(provider)).ids

        return Suggestions(cached, fetch)

    def _drawer(self, model: ModelPublic | None) -> ModelDrawer:
        return ModelDrawer(self.user, model, self.providers, ModelActions(self.save, self.delete, self.purge_cache), self.suggestions())

    async def show_model(self, name: str) -> ui.dialog | None:
        model = self.models.get(name)
        if model is None:
            ui.notify(f"There is no model named {name}.", type="warning")
            return None
        return self._drawer(model).dialog

    def new_model(self) -> None:
        if not self.providers:
            ui.notify("Add a provider on the Keys page first", type="warning")
            return
        self._drawer(None).dialog.open()

    async def save(self, current: str | None, data: dict[str, Any]) -> ModelPublic:
        catalog, actor = self.hub.catalog, acting(self.user)
        if current is None:
            saved = await io_bound(catalog.create_model, actor, data)
        else:
            saved = await io_bound(catalog.replace_model, actor, current, data)
        await self.reload()
        return saved

    async def purge_cache(self, name: str) -> int:
        return await self.hub.cache.purge(acting(self.user), model=name)

    async def delete(self, name: str) -> None:
        await io_bound(self.hub.catalog.delete_model, acting(self.user), name)
        await self.reload()

    # -- the whole configuration ---------------------------------------------------------------------

    async def export(self) -> None:
        text = await io_bound(export_config, self.hub, acting(self.user))
        ui.download.content(text.encode(), EXPORT_FILE_NAME, "application/yaml")

    async def imported(self, report: ConfigReport, plan: ImportPlan) -> None:
        ui.notify(f"Imported: {report}", type="positive", multi_line=True)
        await self.reload()


@console_page(PATH, "Models", icon="alt_route", admin=True, order=40)
async def models_page(user: SessionUser, model: str | None = None) -> None:
    ui.add_css(ROUTE_EDITOR_CSS + DRAWER_CSS)
    pages: list[ModelsPage] = []
    url_state.on_history(lambda params: pages[0].detail.follow(params) if pages else None)  # before the page is sent
    page = ModelsPage(user)
    pages.append(page)
    await page.reload()
    if model:
        await page.detail.open(model, from_url=True)

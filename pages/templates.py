"""Prompt templates: the user's own and the shared ones; admins may share with everyone."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from app.runtime import get_hub
from components.blocking import io_bound
from components.frame import console_page
from components.secret_dialogs import confirm
from components.template_widgets import edit_template
from services.accounts.sessions import SessionUser
from services.compare.templates import (
    TemplateActor,
    TemplateView,
    create_template,
    delete_template,
    list_templates,
    update_template,
)
from services.errors import TemplateError, TemplateNotAllowed

COLUMNS: list[dict[str, Any]] = [
    {"name": "name", "label": "Name", "field": "name", "align": "left", "sortable": True},
    {"name": "body", "label": "Text", "field": "body", "align": "left", "headerClasses": "max-lg:hidden"},
    {"name": "variables", "label": "Variables", "field": "variables", "align": "left",
     "classes": "max-sm:hidden", "headerClasses": "max-sm:hidden"},
    {"name": "shared", "label": "Visible to", "field": "shared", "align": "left"},
    {"name": "actions", "label": "", "field": "id", "align": "right"},
]
ACTIONS_SLOT = r"""
<q-td :props="props">
  <template v-if="props.row.editable">
    <q-btn flat round dense size="sm" icon="edit" color="grey-8" aria-label="Edit template"
           @click="$parent.$emit('edit', props.row)" />
    <q-btn flat round dense size="sm" icon="delete_outline" color="negative" aria-label="Delete template"
           @click="$parent.$emit('remove', props.row)" />
  </template>
</q-td>
"""
BODY_SLOT = r'<q-td :props="props" class="max-lg:hidden"><div class="truncate" style="max-width: 28rem">{{ props.row.body }}</div></q-td>'
SHARED_SLOT = r"""
<q-td :props="props">
  <q-badge :color="props.row.shared ? 'primary' : 'grey-6'" outline>{{ props.row.shared ? 'everyone' : 'only me' }}</q-badge>
</q-td>
"""


def table_rows(templates: list[TemplateView]) -> list[dict[str, object]]:
    return [
        {"id": t.id, "name": t.name, "body": t.body, "variables": ", ".join(t.variables) or "–", "shared": t.shared, "editable": t.editable}
        for t in templates
    ]


@console_page("/templates", "Templates", icon="description", nav=False)
def templates_page(user: SessionUser) -> None:
    hub = get_hub()
    actor = TemplateActor(user.id, user.is_admin, user.display_name)
    templates: dict[int, TemplateView] = {}

    with ui.row().classes("w-full items-center gap-2"):
        ui.label("Type / at the start of the prompt box on the Compare page to use a template.").classes("text-sm text-grey-7 grow")
        ui.button("Back to Compare", icon="compare_arrows").props("flat no-caps href=/compare")
        ui.button("New template", icon="add", on_click=lambda: save(None)).props("unelevated no-caps color=primary")
    table = ui.table(columns=COLUMNS, rows=[], row_key="id", pagination={"rowsPerPage": 20}).classes("w-full").props(
        "flat bordered data-testid=templates-table"
    )
    table.add_slot("body-cell-actions", ACTIONS_SLOT)
    table.add_slot("body-cell-body", BODY_SLOT)
    table.add_slot("body-cell-shared", SHARED_SLOT)
    table.add_slot("no-data", '<div class="w-full text-center text-grey-7 p-4">No templates yet.</div>')

    async def refresh() -> None:
        found = await io_bound(list_templates, hub.engine, actor)
        templates.clear()
        templates.update({t.id: t for t in found})
        table.rows = table_rows(found)
        table.update()

    async def save(template: TemplateView | None) -> None:
        draft = await edit_template(template, may_share=user.is_admin)
        if draft is None:
            return
        try:
            if template is None:
                await io_bound(lambda: create_template(hub.engine, actor, name=draft.name, body=draft.body, shared=draft.shared))
            else:
                await io_bound(
                    lambda: update_template(hub.engine, actor, template.id, name=draft.name, body=draft.body, shared=draft.shared)
                )
        except (TemplateError, TemplateNotAllowed) as error:
            ui.notify(str(error), type="warning")
            return
        ui.notify("Template saved", type="positive")
        await refresh()

    async def remove(template: TemplateView) -> None:
        message = "It is shared: it disappears for everyone." if template.shared else None
        if not await confirm(f"Delete “{template.name}”?", message, action="Delete", no_caps=True):
            return
        try:
            await io_bound(delete_template, hub.engine, actor, template.id)
        except (TemplateError, TemplateNotAllowed) as error:
            ui.notify(str(error), type="warning")
            return
        ui.notify("Template deleted", type="positive")
        await refresh()

    table.on("edit", lambda e: save(templates[e.args["id"]]))
    table.on("remove", lambda e: remove(templates[e.args["id"]]))
    ui.timer(0, refresh, once=True)

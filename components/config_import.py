"""Import a configuration with a preview: paste or upload our own YAML or a LiteLLM ``config.yaml``,
see what would be created, updated or left unchanged (a dry run through the catalog) and, for a
LiteLLM file, its migration report (each entry and setting, and what became of it), then apply."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import events, ui

from app.runtime import get_hub
from components.blocking import io_bound
from components.dialogs import transient_dialog
from services.accounts.audit import Actor
from services.catalog.config_file import ConfigReport, ImportPlan, apply_plan, plan_import
from services.catalog.litellm_report import MigrationReport
from services.errors import CatalogError, ConfigError

MAX_UPLOAD_BYTES = 1_000_000
FORMATS = {"llmhub": "LLM Hub configuration", "litellm": "LiteLLM config.yaml, translated"}
ITEM_COLUMNS = [
    {"name": "kind", "label": "Item", "field": "kind", "align": "left"},
    {"name": "name", "label": "Name", "field": "name", "align": "left"},
    {"name": "change", "label": "Change", "field": "change", "align": "left"},
]
CHANGE_CELL = r"""
<q-td :props="props">
  <q-badge :color="{created: 'positive', updated: 'warning', unchanged: 'grey-6'}[props.row.change]" class="px-2 py-1 text-xs">
    {{ props.row.change }}</q-badge>
</q-td>
"""
OUTCOME_COLORS = {
    "imported": "positive", "imported with changes": "warning", "skipped": "negative",
    "mapped": "positive", "kept": "grey-6", "not supported": "deep-orange",
}
Applied = Callable[[ConfigReport, ImportPlan], Awaitable[None]]


class ImportDialog:
    def __init__(self, actor: Actor, on_applied: Applied) -> None:
        self.actor = actor
        self.on_applied = on_applied
        self.plan: ImportPlan | None = None
        self.source = "pasted text"
        with transient_dialog() as self.dialog, ui.card().classes("w-full max-w-3xl gap-3").props("data-testid=import-dialog"):
            ui.label("Import configuration").classes("text-lg font-medium")
            ui.label(
                "Paste or upload an LLM Hub configuration (as exported here) or a LiteLLM config.yaml. "
                "Nothing is written until you apply the preview."
            ).classes("text-sm text-grey-7")
            self.text = ui.textarea("YAML").classes("w-full").props("outlined input-class='font-mono text-xs' rows=10")
            self.text.on_value_change(self._edited)
            upload = ui.upload(label="…or upload a .yaml file", auto_upload=True, max_file_size=MAX_UPLOAD_BYTES, on_upload=self._uploaded)
            upload.props("accept='.yaml,.yml' flat bordered color=transparent text-color=primary").classes("w-full max-h-28")
            self.preview_area = ui.column().classes("w-full gap-2")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Cancel", on_click=self.dialog.close).props("flat no-caps")
                ui.button("Preview", icon="preview", on_click=self.preview).props("no-caps outline color=primary")
                self.apply_button = ui.button("Apply", icon="check", on_click=self.apply).props("no-caps color=primary")
                self.apply_button.disable()
        self.dialog.open()

    def _edited(self) -> None:
        self.plan = None
        self.apply_button.disable()
        self.text.error = None

    async def _uploaded(self, event: events.UploadEventArguments) -> None:
        try:
            content = await event.file.text()
        except UnicodeDecodeError:
            ui.notify("That file is not UTF-8 text", type="negative")
            return
        self.text.value = content
        self.source = event.file.name or "uploaded file"

    async def preview(self) -> None:
        self._edited()
        source = self.source if self.text.value else "empty text"
        try:
            plan = await io_bound(plan_import, self.text.value or "", catalog=get_hub().catalog, source=source)
        except (ConfigError, CatalogError) as error:
            self.text.error = str(error)
            self.preview_area.clear()
            return
        self.plan = plan
        self._show(plan)
        if plan.preview.changes:
            self.apply_button.enable()

    def _show(self, plan: ImportPlan) -> None:
        report = plan.preview
        self.preview_area.clear()
        with self.preview_area:
            with ui.row().classes("items-center gap-2"):
                ui.badge(FORMATS[plan.format]).props("color=primary outline")
                summary = f"{report.changes} change(s): {report}" if report.changes else "Nothing to change: all is as the file says."
                ui.label(summary).classes("text-sm").props("data-testid=import-summary")
            rows = [item.model_dump() for item in report.items]
            table = ui.table(columns=ITEM_COLUMNS, rows=rows, pagination={"rowsPerPage": 10}).classes("w-full")
            table.props("flat dense data-testid=import-preview")
            table.add_slot("body-cell-change", CHANGE_CELL)
            if report.migration is not None:
                self._migration(report.migration)

    @staticmethod
    def _migration(migration: MigrationReport) -> None:
        """Each entry and setting as a line with its outcome and notes: a list, so it reads at any width."""
        ui.label("Migration report").classes("text-sm font-medium pt-2")
        ui.label(migration.summary()).classes("text-xs text-grey-7").props("data-testid=migration-summary")
        with ui.column().classes("w-full gap-1").props("data-testid=migration-entries"):
            for entry in migration.entries:
                where = entry.entry + (f" → {entry.model}" if entry.model else "")
                _outcome_line(entry.outcome, where, "; ".join(entry.notes))
        if migration.settings:
            with ui.column().classes("w-full gap-1 pt-1").props("data-testid=migration-settings"):
                for setting in migration.settings:
                    _outcome_line(setting.outcome, setting.setting, setting.note)

    async def apply(self) -> None:
        plan = self.plan
        if plan is None:
            return
        self.apply_button.disable()
        try:
            report = await io_bound(apply_plan, plan, catalog=get_hub().catalog, actor=self.actor)
        except (ConfigError, CatalogError) as error:
            self.text.error = str(error)
            return
        self.text.value = ""
        self.dialog.close()
        await self.on_applied(report, plan)


def _outcome_line(outcome: str, subject: str, note: str) -> None:
    with ui.row().classes("w-full items-start gap-2 no-wrap"):
        ui.badge(outcome, color=OUTCOME_COLORS.get(outcome, "grey-6")).classes("text-xs shrink-0")
        with ui.column().classes("gap-0 min-w-0"):
            ui.label(subject).classes("text-xs font-mono break-all")
            if note:
                ui.label(note).classes("text-xs text-grey-7")

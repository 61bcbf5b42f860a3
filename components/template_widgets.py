"""Prompt-template widgets: the compare page's ``/`` picker and variable dialog, the templates page's editor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nicegui import ui

from components.dialogs import transient_dialog
from services.compare.templates import TemplateView, fill
from services.errors import TemplateError


@dataclass(frozen=True, slots=True)
class TemplateDraft:
    name: str
    body: str
    shared: bool


async def fill_template(template: TemplateView, *, user_name: str) -> str | None:
    """The prompt text of ``template``: asks for its variables in a small form first, if it has any."""
    if not template.variables:
        return fill(template.body, {}, user=user_name)
    with transient_dialog() as dialog, ui.card().classes("w-full max-w-lg gap-3").props("data-testid=template-form"):
        ui.label(template.name).classes("text-lg font-semibold")
        ui.label("Fill in the template's variables. {{date}} and {{user}} are filled in for you.").classes("text-sm text-grey-7")
        inputs = {name: ui.input(name).props("outlined dense autofocus" if i == 0 else "outlined dense").classes("w-full")
                  for i, name in enumerate(template.variables)}
        error = ui.label().classes("text-negative text-sm")

        def submit() -> None:
            try:
                dialog.submit(fill(template.body, {name: field.value or "" for name, field in inputs.items()}, user=user_name))
            except TemplateError as exc:
                error.set_text(str(exc))

        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=lambda: dialog.submit(None)).props("flat no-caps")
            ui.button("Use template", on_click=submit).props("unelevated no-caps color=primary")
    filled: str | None = await dialog
    return filled


async def edit_template(template: TemplateView | None, *, may_share: bool) -> TemplateDraft | None:
    """A create/edit form; returns what was entered, or None when cancelled."""
    with transient_dialog() as dialog, ui.card().classes("w-full max-w-2xl gap-3").props("data-testid=template-editor"):
        ui.label("Edit template" if template else "New template").classes("text-lg font-semibold")
        name = ui.input("Name", value=template.name if template else "").props("outlined dense").classes("w-full")
        body = ui.textarea("Template text", value=template.body if template else "").props("outlined autogrow").classes("w-full")
        ui.label("Write variables as {{name}}: they become a small form when the template is picked. "
                 "{{date}} and {{user}} are filled in automatically.").classes("text-xs text-grey-7")
        shared = ui.switch("Share with everyone", value=template.shared if template else False)
        if not may_share:
            shared.disable()
            shared.tooltip("Only admins can share templates")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=lambda: dialog.submit(None)).props("flat no-caps")
            ui.button("Save", on_click=lambda: dialog.submit(TemplateDraft(name.value or "", body.value or "", bool(shared.value)))).props(
                "unelevated no-caps color=primary"
            )
    draft: TemplateDraft | None = await dialog
    return draft


def show_template_picker(picker: ui.column, matches: list[TemplateView], pick: Callable[[TemplateView], Awaitable[None]]) -> None:
    """The templates a ``/`` in the prompt box matches (the first eight), each a click away."""
    picker.clear()
    with picker:
        ui.label("Templates" if matches else "No template matches. Manage them on the Templates page.").classes("text-xs text-grey-7")
        for template in matches[:8]:
            option = ui.row().classes(
                "w-full items-center gap-2 cursor-pointer rounded px-2 py-1 hover:bg-slate-100 dark:hover:bg-slate-800"
            ).props("data-testid=template-option")
            option.on("click", lambda t=template: pick(t))
            with option:
                ui.icon("description", size="18px").classes("text-primary")
                ui.label(template.name).classes("text-sm font-medium")
                if template.shared:
                    ui.badge("shared", color="grey-6").props("outline")
                ui.label(template.body[:80]).classes("text-xs text-grey-7 truncate min-w-0 grow")

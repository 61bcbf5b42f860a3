"""Dialogs for secrets shown once (a new token, an invite link, a reset password, recovery codes)
and for confirming an action that cannot be undone."""

from __future__ import annotations

from collections.abc import Callable

from nicegui import ui

from components.dialogs import transient_dialog


def _copy(value: str) -> None:
    ui.clipboard.write(value)
    ui.notify("Copied to the clipboard", type="positive")


async def show_once(title: str, value: str, hint: str, *, multiline: bool = False, details: Callable[[], None] | None = None) -> None:
    """Show ``value`` with a copy button until the person clicks "Done"; then it leaves the page (with whatever
    ``details`` drew below it, such as snippets that carry the value)."""
    with transient_dialog().props("persistent") as dialog, ui.card().classes("w-full max-w-2xl gap-3").props("data-testid=show-once"):
        ui.label(title).classes("text-lg font-semibold")
        with ui.row().classes("items-center gap-2 no-wrap"):
            ui.icon("visibility_off", size="20px").classes("text-warning")
            ui.label(hint).classes("text-sm")
        with ui.row().classes("w-full items-start gap-2 no-wrap"):
            field: ui.input  # ui.textarea is a multi-line ui.input
            if multiline:
                field = ui.textarea(value=value).props("readonly outlined autogrow input-class=font-mono")
            else:
                field = ui.input(value=value).props("readonly outlined dense input-class=font-mono")
            field.classes("grow").props("data-testid=secret-value")
            ui.button(icon="content_copy", on_click=lambda: _copy(value)).props("flat round aria-label=Copy data-testid=copy-secret")
        if details is not None:
            details()
        with ui.row().classes("w-full justify-end"):
            ui.button("Done", on_click=lambda: dialog.submit(None))
    await dialog


async def confirm(title: str, message: str | None, *, action: str, danger: bool = True, no_caps: bool = False) -> bool:
    """Ask before acting; True when the person chose ``action``. ``no_caps``: the chat pages' lighter
    buttons (mixed case, flat Cancel, unelevated action) instead of the admin pages' ones."""
    with transient_dialog() as dialog, ui.card().classes("w-full max-w-md gap-3"):
        ui.label(title).classes("text-lg font-semibold")
        if message:
            ui.label(message).classes("text-grey-7")
        color = f"color={'negative' if danger else 'primary'}"
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=lambda: dialog.submit(False)).props("flat no-caps" if no_caps else "flat color=grey-8")
            ui.button(action, on_click=lambda: dialog.submit(True)).props(f"unelevated no-caps {color}" if no_caps else color)
    chosen = await dialog
    return chosen is True

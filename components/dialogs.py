"""A page-level throwaway dialog for forms."""

from __future__ import annotations

from nicegui import ui


def transient_dialog() -> ui.dialog:
    """A dialog attached to the page itself — not to the element whose handler opened it, which may
    be gone before the dialog is — and deleted when it closes (so typed secrets do not linger)."""
    with ui.context.client.content:
        dialog = ui.dialog()
    dialog.on("hide", dialog.delete)
    return dialog

"""The saved-comparisons list in the compare page's side panel: open, rename, delete."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from nicegui import ui

from components.local_time import iso
from services.compare.conversations import ConversationSummary


@dataclass(frozen=True, slots=True)
class ConversationActions:
    open: Callable[[int], object]
    rename: Callable[[ConversationSummary], object]
    delete: Callable[[ConversationSummary], object]


def local_time(moment: datetime) -> ui.element:
    """A time the browser writes out in its own zone (stored times are UTC)."""
    expression = f'new Date({json.dumps(iso(moment))}).toLocaleString([], {{dateStyle: "medium", timeStyle: "short"}})'
    return ui.element("span").props(f":innerText='{expression}'")


def conversation_list(items: list[ConversationSummary], *, current: int | None, actions: ConversationActions) -> None:
    if not items:
        ui.label("No saved comparisons yet. Every turn is saved automatically.").classes("text-sm text-grey-7")
        return
    for item in items:
        active = item.id == current
        with ui.row().classes(
            "w-full items-center gap-1 no-wrap rounded px-2 py-1 hover:bg-slate-100 dark:hover:bg-slate-800"
            + (" bg-indigo-50 dark:bg-indigo-950" if active else "")
        ).props("data-testid=conversation-item"):
            # A real link (middle-click and Ctrl+click open a tab); a plain click opens it in place, without a reload.
            link = ui.link(target=f"/compare?conversation={item.id}").classes("flex flex-col gap-0 min-w-0 grow no-underline")
            link.style("color: inherit")
            link.on("click.exact.prevent", lambda i=item: actions.open(i.id))
            with link:
                ui.label(item.title).classes("text-sm font-medium truncate w-full")
                with ui.row().classes("gap-1 text-xs text-grey-7 no-wrap w-full min-w-0"):
                    local_time(item.updated_at)
                    models = "blind" if item.blind and not item.models else " · ".join(item.models)
                    ui.label(f"· {models}").classes("truncate")
            menu_button = ui.button(icon="more_vert").props("flat round dense size=sm color=grey-8 aria-label='Conversation actions'")
            with menu_button, ui.menu():
                ui.menu_item("Rename", on_click=lambda i=item: actions.rename(i))
                ui.menu_item("Delete", on_click=lambda i=item: actions.delete(i))

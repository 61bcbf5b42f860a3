"""The compare page's side panel of saved comparisons: search, open, rename, delete.

The page owns the open comparison; the drawer asks it which one that is (to mark it in the list) and
tells it when a saved one is opened, renamed or deleted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from nicegui import ui
from sqlalchemy.engine import Engine

from components.blocking import io_bound
from components.compare_widgets import ask_title
from components.conversation_list import ConversationActions, conversation_list
from components.secret_dialogs import confirm
from services.compare.conversations import (
    ConversationState,
    ConversationSummary,
    delete_conversation,
    list_conversations,
    load_conversation,
    rename_conversation,
)
from services.errors import CompareError, ConversationNotFound


@dataclass(frozen=True, slots=True)
class DrawerEvents:
    current: Callable[[], int | None]  # the id of the comparison the page shows (None while unsaved)
    opened: Callable[[ConversationState], None]
    renamed: Callable[[int, str], None]
    deleted: Callable[[int], None]


class ConversationDrawer:
    def __init__(self, engine: Engine, user_id: int, events: DrawerEvents) -> None:
        self.engine = engine
        self.user_id = user_id
        self.events = events
        self.requests = 0
        self.shown: tuple[list[ConversationSummary], int | None] | None = None
        with ui.context.client.content:
            self.drawer = ui.right_drawer(value=False, fixed=True).props("bordered overlay width=320").classes(
                "bg-white dark:bg-slate-900 p-3 gap-2"
            )
        with self.drawer:
            with ui.row().classes("w-full items-center"):
                ui.label("Conversations").classes("text-lg font-semibold grow")
                ui.button(icon="close", on_click=self.drawer.hide).props("flat round dense aria-label='Close conversations'")
            self.search = ui.input(placeholder="Search by title", on_change=self.refresh).props(
                "outlined dense clearable debounce=300 aria-label='Search conversations'"
            ).classes("w-full")
            self.box = ui.column().classes("w-full gap-1")

    async def show(self) -> None:
        self.drawer.show()
        await self.refresh()

    async def refresh(self) -> None:
        """Redraw the list only when it changed, so a click on an item is never lost to a redraw."""
        self.requests += 1
        request = self.requests
        items = await io_bound(list_conversations, self.engine, self.user_id, search=self.search.value or "")
        shown = (items, self.events.current())
        if request != self.requests or shown == self.shown:
            return
        self.shown = shown
        self.box.clear()
        with self.box:
            actions = ConversationActions(open=self._open, rename=self._rename, delete=self._delete)
            conversation_list(items, current=shown[1], actions=actions)

    async def _open(self, conversation_id: int) -> None:
        try:
            state = await io_bound(load_conversation, self.engine, self.user_id, conversation_id)
        except ConversationNotFound:
            ui.notify("That conversation no longer exists.", type="warning")
            await self.refresh()
            return
        self.events.opened(state)
        self.drawer.hide()

    async def _rename(self, item: ConversationSummary) -> None:
        new_title = await ask_title(item.title)
        if new_title is None:
            return
        try:
            await io_bound(rename_conversation, self.engine, self.user_id, item.id, new_title)
        except CompareError as error:
            ui.notify(str(error), type="warning")
            return
        self.events.renamed(item.id, " ".join(new_title.split()))
        await self.refresh()

    async def _delete(self, item: ConversationSummary) -> None:
        message = f"“{item.title}” and every column's history will be deleted. Blind votes stay on the leaderboard."
        if not await confirm("Delete conversation?", message, action="Delete", no_caps=True):
            return
        with contextlib.suppress(ConversationNotFound):  # gone already: the outcome asked for
            await io_bound(delete_conversation, self.engine, self.user_id, item.id)
        self.events.deleted(item.id)
        ui.notify("Conversation deleted", type="positive")
        await self.refresh()

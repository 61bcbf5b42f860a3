"""The compare page: one prompt, 2–4 models answering side by side, each column with its own thread.

Layout and event wiring only: the conversation and its running answers live in
``services.compare.comparisons.Comparison``; storage in ``services.compare.conversations``; the columns are
``components.chat_column`` views, which a 50 ms timer feeds while answers stream.
"""

from __future__ import annotations

import asyncio
import base64
import random

from nicegui import events, ui

from app.runtime import get_hub
from components import url_state
from components.account_ui import acting
from components.blocking import io_bound
from components.chat_column import (
    ChatColumnView,
    ColumnActions,
    edit_column_settings,
    install_scroll_together,
)
from components.compare_widgets import ask_blind_pool, blind_vote_panel
from components.conversation_drawer import ConversationDrawer, DrawerEvents
from components.frame import console_page
from components.snippet_tabs import server_url
from components.template_widgets import fill_template, show_template_picker
from services.accounts.sessions import SessionUser
from services.accounts.tokens import Principal
from services.compare.comparisons import (
    MAX_COLUMNS,
    MIN_COLUMNS,
    Comparison,
    new_blind_conversation,
    new_conversation,
    restart,
)
from services.compare.conversations import (
    ConversationState,
    export_json,
    export_markdown,
    load_conversation,
    save_conversation,
)
from services.compare.leaderboard import cast_vote
from services.compare.templates import TemplateActor, TemplateView, list_templates
from services.errors import CompareError, ConversationNotFound
from services.gateway.model_limits import default_limits

TICK_SECONDS = 0.05
IMAGE_LIMIT_BYTES = 5 * 1024 * 1024
GRID_CLASSES = {1: "grid-cols-1", 2: "grid-cols-1 md:grid-cols-2", 3: "grid-cols-1 md:grid-cols-2 lg:grid-cols-3",
                4: "grid-cols-1 md:grid-cols-2 xl:grid-cols-4"}

PATH = "/compare"


@console_page(PATH, "Compare", icon="compare_arrows", order=10)
async def compare_page(user: SessionUser, conversation: int | None = None) -> None:
    """``/compare?conversation=7`` opens that saved conversation (reload, bookmarks, shared links, Back)."""
    page = ComparePage(user)
    page.build(await page.opened_state(conversation))


class ComparePage:
    def __init__(self, user: SessionUser) -> None:
        self.user = user
        self.hub = get_hub()
        self.models = self.hub.table.model_names()
        self.principal = Principal(user_id=user.id, role=user.role)
        self.views: dict[str, ChatColumnView] = {}
        self.maximised: str | None = None
        self.attachments: list[str] = []
        self.templates: list[TemplateView] = []
        self.prompt_template: str | None = None  # the template the prompt box was filled from
        self.save_lock = asyncio.Lock()
        self.rng = random.Random()
        self.blind_pool: list[str] = []
        self.syncing_blind = False
        self.compare: Comparison

    # --- building ------------------------------------------------------------------------------

    async def opened_state(self, conversation_id: int | None) -> ConversationState | None:
        """The conversation the URL names, if it is this person's; otherwise a fresh comparison (and a clean URL)."""
        if conversation_id is None:
            return None
        try:
            return await io_bound(load_conversation, self.hub.engine, self.user.id, conversation_id)
        except ConversationNotFound:
            ui.notify("That conversation does not exist (or is not yours): here is a new comparison.", type="warning")
            url_state.replace(PATH, {})
            return None

    def build(self, opened: ConversationState | None = None) -> None:
        if not self.models and opened is None:
            with ui.card().classes("w-full items-center p-8 gap-2"):
                ui.icon("compare_arrows", size="40px").classes("text-grey-6")
                ui.label("No models to compare yet").classes("text-lg font-medium")
                ui.label("An admin adds providers and models first; then every signed-in user can compare them here.").classes(
                    "text-grey-7 text-center"
                )
            return
        self.compare = self._comparison(opened or new_conversation(self.models))
        url_state.reload_on_history()
        install_scroll_together()
        self.drawer = ConversationDrawer(self.hub.engine, self.user.id, DrawerEvents(
            current=lambda: self.compare.state.id, opened=self._replace, renamed=self._renamed, deleted=self._deleted,
        ))
        self._toolbar()
        self.columns_box = ui.element("div").classes("w-full")
        self.vote_box = ui.column().classes("w-full items-center gap-2")
        self._prompt_area()
        self.timer = ui.timer(TICK_SECONDS, self._tick, active=False)
        self._render_all()
        ui.timer(0, self._load_lists, once=True)
        ui.context.client.on_delete(lambda: self.compare.stop_all())

    def _comparison(self, state: ConversationState) -> Comparison:
        return Comparison(self.hub.gateway, self.principal, state, table=lambda: self.hub.table, limits=default_limits())

    def _toolbar(self) -> None:
        with ui.row().classes("w-full items-center gap-2 -mt-2"):
            self.title_label = ui.label().classes("text-grey-7 truncate min-w-0 grow").props("data-testid=conversation-title")
        with ui.row().classes("w-full items-center gap-2"):
            ui.button("Conversations", icon="history", on_click=self.drawer.show).props("outline no-caps")
            ui.button("New", icon="add_comment", on_click=self._new_comparison).props("outline no-caps")
            self.add_button = ui.button("Add column", icon="view_column", on_click=self._add_column).props("outline no-caps")
            with ui.button("Export", icon="download").props("outline no-caps"), ui.menu():
                ui.menu_item("Export as JSON", on_click=lambda: self._export("json"))
                ui.menu_item("Export as Markdown", on_click=lambda: self._export("md"))
            self.link_button = ui.button("Copy link", icon="link", on_click=self._copy_link).props("flat no-caps")
            self.link_button.tooltip("A link to this conversation (for you, or another tab)")
            ui.button("Templates", icon="description").props("flat no-caps href=/templates")
        with ui.row().classes("w-full items-center gap-x-4 gap-y-0 -mt-2"):
            self.same_switch = ui.switch("Same settings everywhere", on_change=self._toggle_same_settings)
            ui.switch("Scroll together").on("update:model-value", js_handler="(on) => { window.llmhubScrollTogether = on; emit(on); }")
            self.blind_switch = ui.switch("Blind mode", on_change=self._toggle_blind).props("data-testid=blind-switch")

    def _prompt_area(self) -> None:
        """The composer; below 768 px it sticks to the bottom of the window, so it is in view from the start
        (under stacked columns) and stays there while the answers scroll."""
        with ui.card().classes(
            "w-full p-3 gap-2 no-shadow border border-slate-200 dark:border-slate-700 "
            "max-md:sticky max-md:bottom-0 max-md:z-10 bg-white dark:bg-slate-900"
        ).props("data-testid=composer"):
            self.picker = ui.column().classes("w-full gap-1").props("data-testid=template-picker")
            self.picker.set_visibility(False)
            self.attachment_row = ui.row().classes("gap-2 items-center")
            with ui.row().classes("w-full items-end justify-end gap-2 flex-wrap sm:flex-nowrap"):
                self.prompt = ui.textarea(placeholder="Ask every column… (/ for templates · Shift+Enter for a new line)",
                                          on_change=self._prompt_changed).props("outlined autogrow dense aria-label=Prompt").classes(
                    "grow min-w-0 basis-full sm:basis-auto")
                # Enter and Send carry the box's text with them: the box's own change event travels
                # separately and may reach the server after them on a page that is still connecting.
                with_text = f"() => emit(getHtmlElement({self.prompt.id}).value)"
                self.prompt.on("keydown.enter.exact.prevent", self._send, js_handler=with_text)
                self.upload = ui.upload(on_upload=self._attach, auto_upload=True, multiple=True, max_file_size=IMAGE_LIMIT_BYTES,
                                        on_rejected=lambda: ui.notify("Images up to 5 MB only", type="warning")).props(
                    "accept=image/*").classes("hidden")
                ui.button(icon="image", on_click=lambda: self.upload.run_method("pickFiles")).props(
                    "flat round color=grey-8 aria-label='Attach image'").tooltip("Attach an image (vision models)")
                self.stop_all_button = ui.button("Stop all", icon="stop", on_click=self._stop_all).props("outline color=negative no-caps")
                self.send_button = ui.button("Send", icon="send").props("unelevated color=primary no-caps")
                self.send_button.on("click", self._send, js_handler=with_text)

    # --- drawing -------------------------------------------------------------------------------

    def _render_all(self) -> None:
        state = self.compare.state
        self.title_label.set_text(state.title or "New comparison")
        self.same_switch.set_value(state.same_settings)
        self._set_blind_switch(state.blind)
        self._render_columns()

    def _render_columns(self) -> None:
        state = self.compare.state
        if self.maximised not in {c.id for c in state.columns}:
            self.maximised = None
        shown = [c for c in state.columns if self.maximised in (None, c.id)]
        actions = ColumnActions(
            set_model=self._set_model, edit_settings=self._edit_settings, stop=self.compare.stop, regenerate=self._regenerate,
            delete_message=self._delete_message, continue_with=self._continue_with, toggle_maximise=self._toggle_maximise,
            remove=self._remove_column,
        )
        removable = len(state.columns) > MIN_COLUMNS and not state.blind
        self.views = {}
        self.columns_box.clear()
        with self.columns_box, ui.element("div").classes(f"grid w-full gap-3 {GRID_CLASSES[len(shown)]}").props("data-testid=columns"):
            for column in shown:
                models = self.models if column.model in self.models else [column.model, *self.models]
                index = state.columns.index(column)
                self.views[column.id] = ChatColumnView(self.compare, column, index, models, actions,
                                                       maximised=self.maximised is not None, removable=removable)
        self._update_controls()

    def _update_controls(self) -> None:
        state = self.compare.state
        busy = self.compare.busy
        self.add_button.set_enabled(len(state.columns) < MAX_COLUMNS and not state.blind)
        self.stop_all_button.set_visibility(busy)
        self.send_button.set_enabled(not busy)
        self._render_vote_box()

    def _render_vote_box(self) -> None:
        state = self.compare.state
        self.vote_box.clear()
        if not state.blind:
            return
        with self.vote_box:
            blind_vote_panel(state, ready=self._ready_to_vote(), vote=self._vote, new_round=self._new_blind_round)

    def _ready_to_vote(self) -> bool:
        answers = [c.last_assistant() for c in self.compare.state.columns]
        return not self.compare.busy and all(a is not None and not a.failed for a in answers)

    def _render_attachments(self) -> None:
        self.attachment_row.clear()
        with self.attachment_row:
            for index, url in enumerate(self.attachments):
                with ui.element("div").classes("relative"):
                    ui.image(url).classes("w-16 h-16 rounded object-cover")
                    ui.button(icon="close", on_click=lambda i=index: self._detach(i)).props(
                        "round dense size=xs color=grey-8 aria-label='Remove image'"
                    ).classes("absolute -top-2 -right-2")
        blockers = self.compare.image_blockers() if self.attachments else {}
        for column_id, view in self.views.items():
            reason = blockers.get(column_id)
            view.show_warning(f"{reason}: remove the image or pick another model." if reason else None)

    # --- turns ---------------------------------------------------------------------------------

    async def _send(self, event: events.GenericEventArguments) -> None:
        text = str(event.args or "").rstrip()
        if text.startswith("/") and self.picker.visible and self._matching_templates(text):
            await self._use_template(self._matching_templates(text)[0])
            return
        try:
            self.compare.send(text, self.attachments, template=self.prompt_template)
        except CompareError as error:
            ui.notify(str(error), type="warning")
            self._render_attachments()
            return
        self.prompt.set_value("")
        self.prompt_template = None
        self.attachments = []
        self._render_attachments()
        self.title_label.set_text(self.compare.state.title)
        self._streaming_started()

    def _streaming_started(self) -> None:
        for view in self.views.values():
            view.render()
        self._update_controls()
        self.timer.activate()

    async def _tick(self) -> None:
        for view in self.views.values():
            view.pump()
        if self.compare.busy:
            return
        self.timer.deactivate()
        self._update_controls()
        await self._save()

    def _stop_all(self) -> None:
        self.compare.stop_all()

    def _regenerate(self, column_id: str) -> None:
        self._attempt(lambda: self.compare.regenerate(column_id))
        if self.compare.streaming(column_id):
            self._streaming_started()

    async def _delete_message(self, column_id: str, message_id: str) -> None:
        if self._attempt(lambda: self.compare.delete_message(column_id, message_id)):
            self.views[column_id].render()
            self._update_controls()
            await self._save()

    async def _continue_with(self, column_id: str) -> None:
        if self._attempt(lambda: self.compare.continue_with(column_id)):
            for view in self.views.values():
                view.render()
            ui.notify("That answer is now the last reply in every column.", type="positive")
            await self._save()

    @staticmethod
    def _attempt(action: object) -> bool:
        try:
            action()  # type: ignore[operator]
        except CompareError as error:
            ui.notify(str(error), type="warning")
            return False
        return True

    async def _attach(self, event: events.UploadEventArguments) -> None:
        data = await event.file.read()
        media_type = event.file.content_type or "image/png"
        if not media_type.startswith("image/"):
            ui.notify("Only images can be attached.", type="warning")
            return
        self.attachments.append(f"data:{media_type};base64,{base64.b64encode(data).decode()}")
        self.upload.reset()
        self._render_attachments()

    def _detach(self, index: int) -> None:
        del self.attachments[index]
        self._render_attachments()

    # --- columns -------------------------------------------------------------------------------

    def _set_model(self, column_id: str, model: str) -> None:
        if self._attempt(lambda: self.compare.set_model(column_id, model)):
            self.views[column_id].render()
            self._render_attachments()

    async def _edit_settings(self, column_id: str) -> None:
        state = self.compare.state
        column = state.column(column_id)
        settings = await edit_column_settings(column.settings, title=state.display_name(column), everywhere=state.same_settings)
        if settings is not None:
            self.compare.update_settings(column_id, settings)
            for view in self.views.values():
                view.render()

    def _toggle_same_settings(self, event: events.ValueChangeEventArguments[bool | None]) -> None:
        if bool(event.value) != self.compare.state.same_settings:
            self.compare.set_same_settings(bool(event.value))
            for view in self.views.values():
                view.render()

    def _add_column(self) -> None:
        used = {c.model for c in self.compare.state.columns}
        model = next((m for m in self.models if m not in used), self.models[0])
        if self._attempt(lambda: self.compare.add_column(model)):
            self._render_columns()

    def _remove_column(self, column_id: str) -> None:
        if self._attempt(lambda: self.compare.remove_column(column_id)):
            self._render_columns()

    def _toggle_maximise(self, column_id: str) -> None:
        self.maximised = None if self.maximised == column_id else column_id
        self._render_columns()

    # --- templates -----------------------------------------------------------------------------

    def _matching_templates(self, text: str) -> list[TemplateView]:
        query = text[1:].strip().lower()
        return [t for t in self.templates if query in t.name.lower()]

    def _prompt_changed(self, event: events.ValueChangeEventArguments[str | None]) -> None:
        text = event.value or ""
        slash = text.startswith("/") and "\n" not in text
        show_template_picker(self.picker, self._matching_templates(text) if slash else [], self._use_template)
        self.picker.set_visibility(slash)

    async def _use_template(self, template: TemplateView) -> None:
        self.picker.set_visibility(False)
        text = await fill_template(template, user_name=self.user.display_name)
        if text is not None:
            self.prompt.set_value(text)
            self.prompt_template = template.name
            self.prompt.run_method("focus")

    # --- conversations -------------------------------------------------------------------------

    async def _load_lists(self) -> None:
        actor = TemplateActor(self.user.id, self.user.is_admin, self.user.display_name)
        self.templates = await io_bound(list_templates, self.hub.engine, actor)
        await self.drawer.refresh()

    async def _save(self) -> None:
        """Auto-save after each turn and each edit; a snapshot is written so the page can go on changing."""
        state = self.compare.state
        if not state.has_messages:
            return
        async with self.save_lock:
            snapshot = state.snapshot()
            before = state.id
            try:
                state.id = await io_bound(save_conversation, self.hub.engine, self.user.id, snapshot)
            except ConversationNotFound:  # deleted from the list while open: save it as a new one
                snapshot.id = None
                state.id = await io_bound(save_conversation, self.hub.engine, self.user.id, snapshot)
        if state.id != before and state is self.compare.state:
            url_state.replace(PATH, {"conversation": state.id})  # saved for the first time: the URL names it now
        await self.drawer.refresh()

    def _replace(self, state: ConversationState) -> None:
        """Show another conversation (a saved one, or a new one) and name it in the URL, as a step Back undoes."""
        self.compare.stop_all()
        self.timer.deactivate()
        self.compare = self._comparison(state)
        self.maximised = None
        self.attachments = []
        self._render_attachments()
        self._render_all()
        url_state.push(PATH, {"conversation": state.id})

    def _renamed(self, conversation_id: int, title: str) -> None:
        if self.compare.state.id == conversation_id:
            self.compare.state.title = title
            self.title_label.set_text(title)

    def _deleted(self, conversation_id: int) -> None:
        if self.compare.state.id == conversation_id:
            self.compare.state.id = None
            url_state.replace(PATH, {})

    def _new_comparison(self) -> None:
        self._replace(restart(self.compare.state, self.models))

    def _copy_link(self) -> None:
        state = self.compare.state
        if state.id is None:
            ui.notify("Send a first prompt: the conversation gets its link when it is saved.", type="info")
            return
        ui.clipboard.write(server_url() + url_state.url(PATH, {"conversation": state.id}))
        ui.notify("Link copied", type="positive", timeout=1200)

    def _export(self, kind: str) -> None:
        state = self.compare.state
        name = f"comparison-{state.id or 'unsaved'}"
        if kind == "json":
            ui.download.content(export_json(state).encode(), f"{name}.json", "application/json")
        else:
            ui.download.content(export_markdown(state).encode(), f"{name}.md", "text/markdown")

    # --- blind mode ----------------------------------------------------------------------------

    def _set_blind_switch(self, value: bool) -> None:
        self.syncing_blind = True
        self.blind_switch.set_value(value)
        self.syncing_blind = False

    async def _toggle_blind(self, event: events.ValueChangeEventArguments[bool | None]) -> None:
        if self.syncing_blind or bool(event.value) == self.compare.state.blind:
            return
        if not event.value:
            self._replace(restart(self.compare.state, self.models))
            return
        if not await self._start_blind():
            self._set_blind_switch(False)

    async def _start_blind(self) -> bool:
        chosen = await ask_blind_pool(self.models, sorted({c.model for c in self.compare.state.columns}))
        if chosen is None:
            return False
        try:
            state = new_blind_conversation(chosen, self.rng, self.compare.state.columns[0].settings)
        except CompareError as error:
            ui.notify(str(error), type="warning")
            return False
        self.blind_pool = chosen
        self._replace(state)
        return True

    def _new_blind_round(self) -> None:
        pool = self.blind_pool or [c.model for c in self.compare.state.columns]
        self._attempt(lambda: self._replace(new_blind_conversation(pool, self.rng, self.compare.state.columns[0].settings)))

    async def _vote(self, outcome: str) -> None:
        try:
            model_a, model_b = self.compare.vote(outcome)
        except CompareError as error:
            ui.notify(str(error), type="warning")
            return
        await io_bound(cast_vote, self.hub.engine, acting(self.user), model_a, model_b, outcome, self.compare.state.template)
        ui.notify(f"Thanks! Model A was {model_a}, Model B was {model_b}.", type="positive")
        self._render_columns()
        await self._save()

"""One column of the compare page: model picker, settings, its own message history, live metrics.

The view never talks to the gateway: it draws a ``ColumnState`` and a running ``ColumnRun`` from
``services.compare.comparisons`` and reports clicks through ``ColumnActions``. While an answer streams the page
calls ``pump`` on a short timer; only the text added since the last tick goes to the browser.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nicegui import ui

from components.dialogs import transient_dialog
from components.markdown_view import MarkdownView
from services.compare.comparisons import ColumnRun, Comparison
from services.compare.conversations import (
    ChatMessage,
    ColumnSettings,
    ColumnState,
    TurnMetrics,
)
from services.gateway.pricing import format_usd

SCROLL_TOGETHER_JS = """
<script>
document.addEventListener("scroll", (event) => {
  const box = event.target;
  if (!window.llmhubScrollTogether || window.llmhubSyncing || !box.classList || !box.classList.contains("chat-scroll")) return;
  const ratio = box.scrollTop / Math.max(1, box.scrollHeight - box.clientHeight);
  window.llmhubSyncing = true;
  document.querySelectorAll(".chat-scroll").forEach((other) => {
    if (other !== box) other.scrollTop = ratio * (other.scrollHeight - other.clientHeight);
  });
  requestAnimationFrame(() => { window.llmhubSyncing = false; });
}, true);
</script>
"""


@dataclass(frozen=True, slots=True)
class ColumnActions:
    set_model: Callable[[str, str], object]
    edit_settings: Callable[[str], object]
    stop: Callable[[str], object]
    regenerate: Callable[[str], object]
    delete_message: Callable[[str, str], object]
    continue_with: Callable[[str], object]
    toggle_maximise: Callable[[str], object]
    remove: Callable[[str], object]


def install_scroll_together() -> None:
    """The page-wide listener behind the "scroll together" switch (``window.llmhubScrollTogether``)."""
    ui.add_body_html(SCROLL_TOGETHER_JS)


def format_tokens(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f}M".replace(".0M", "M")
    if count >= 10_000:
        return f"{count / 1000:.0f}k"
    return f"{count:,}"


BLIND_METRICS = "Speed, tokens and cost show after your vote."


def metrics_text(metrics: TurnMetrics, *, anonymous: bool, live: bool = False) -> str:
    """One line under an answer: time to first token, speed (when it means something), tokens, cost, time, route.

    ``anonymous`` (an unrevealed blind pair) shows none of them: each one (speed, token counts that betray a
    tokenizer, cost, the route) can tell the models apart.
    """
    if anonymous:
        return BLIND_METRICS
    approx = "≈" if metrics.estimated else ""
    rate = metrics.tokens_per_second
    parts = [
        f"TTFT {metrics.ttft_ms:,.0f} ms" if metrics.ttft_ms is not None else "TTFT –",
        *([f"{rate:,.1f} tok/s"] if rate is not None else []),
        f"{approx}{metrics.prompt_tokens:,} prompt + {approx}{metrics.completion_tokens:,} completion tokens",
        "cost …" if live else format_usd(metrics.cost_micros),
        f"{(metrics.total_ms or 0) / 1000:.2f} s",
    ]
    if metrics.provider:
        parts.append(f"{metrics.provider}/{metrics.upstream_model} · key {metrics.key_label}")
    return " · ".join(parts)


def settings_summary(settings: ColumnSettings) -> str:
    text = f"temp {settings.temperature:g} · max {settings.max_tokens:,} · top p {settings.top_p:g}"
    return text + (" · system prompt" if settings.system_prompt.strip() else "")


class ChatColumnView:
    def __init__(self, compare: Comparison, column: ColumnState, index: int, models: list[str], actions: ColumnActions,
                 *, maximised: bool, removable: bool) -> None:
        self.compare = compare
        self.column = column
        self.index = index
        self.models = models
        self.actions = actions
        self.live: tuple[ColumnRun, MarkdownView, ui.label] | None = None
        with ui.card().classes("w-full min-w-0 gap-2 p-3 no-shadow border border-slate-200 dark:border-slate-700").props(
            f"data-testid=column-{index}"
        ):
            self._header(maximised, removable)
            self.context_box = ui.column().classes("w-full gap-0")
            self.warning = ui.label().classes("text-negative text-sm").props(f"data-testid=column-warning-{index}")
            self.warning.set_visibility(False)
            scroll_height = "max-h-[72vh]" if maximised else "max-h-[60vh]"
            # column-reverse keeps the newest text in view while it streams, without scripting the scroll position
            with ui.element("div").classes(f"chat-scroll w-full overflow-y-auto flex flex-col-reverse min-h-[160px] {scroll_height} pr-1"):
                self.messages_box = ui.column().classes("w-full gap-3")
        self.render()

    # --- layout --------------------------------------------------------------------------------

    @property
    def hidden(self) -> bool:
        state = self.compare.state
        return state.blind and not state.revealed

    def _header(self, maximised: bool, removable: bool) -> None:
        state = self.compare.state
        with ui.row().classes("w-full items-center gap-2 no-wrap"):
            with ui.column().classes("gap-0 min-w-0 grow"):
                if state.blind:
                    ui.label(state.display_name(self.column)).classes("text-base font-semibold truncate").props("data-testid=column-name")
                else:
                    ui.select(self.models, value=self.column.model, with_input=True,
                              on_change=lambda e: self.actions.set_model(self.column.id, e.value)).props(
                        "dense outlined options-dense aria-label='Model'"
                    ).classes("w-full min-w-0")
                self.summary = ui.label(settings_summary(self.column.settings)).classes("text-xs text-grey-7 truncate")
            self.stop_button = ui.button("Stop", icon="stop", on_click=lambda: self.actions.stop(self.column.id)).props(
                "dense unelevated color=negative no-caps"
            )
            self.stop_button.set_visibility(False)
            self._icon_button("tune", "Column settings", lambda: self.actions.edit_settings(self.column.id))
            self._icon_button("close_fullscreen" if maximised else "open_in_full", "Restore columns" if maximised else "Maximise column",
                              lambda: self.actions.toggle_maximise(self.column.id))
            if removable:
                self._icon_button("close", "Remove column", lambda: self.actions.remove(self.column.id))

    @staticmethod
    def _icon_button(icon: str, label: str, handler: Callable[[], object]) -> ui.button:
        button = ui.button(icon=icon, on_click=handler).props(f"flat round dense size=sm color=grey-8 aria-label='{label}'")
        button.tooltip(label)
        return button

    def render(self) -> None:
        """Redraw the history (and the running answer, if any)."""
        streaming = self.compare.streaming(self.column.id)
        self.stop_button.set_visibility(streaming)
        self.summary.set_text(settings_summary(self.column.settings))
        self._render_context()
        self.messages_box.clear()
        with self.messages_box:
            if not self.column.messages and not streaming:
                ui.label("Answers appear here.").classes("text-sm text-grey-6 italic")
            last = self.column.messages[-1] if self.column.messages else None
            for message in self.column.messages:
                self._message(message, is_last=message is last and not streaming)
            run = self.compare.runs.get(self.column.id)
            self.live = None
            if streaming and run is not None:
                self._live(run)

    def _render_context(self) -> None:
        self.context_box.clear()
        with self.context_box:
            ui.label(self._context_text()).classes("text-xs text-grey-7").props(f"data-testid=context-{self.index}")

    def _context_text(self) -> str:
        """How full the context is (a bar above the text when the limit is known); hidden in a blind round,
        where a count of tokens tells tokenizers, and so models, apart."""
        if self.hidden:
            return "Context hidden until the vote"
        used = self.compare.context_used(self.column)
        limit = self.compare.model_limits(self.column).context
        if not limit:
            return f"{format_tokens(used)} tokens of context · unknown limit"
        ratio = min(used / limit, 1.0)
        color = "negative" if ratio > 0.9 else "warning" if ratio > 0.7 else "primary"
        ui.linear_progress(ratio, show_value=False, size="4px", color=color).props("rounded")
        return f"{format_tokens(used)} / {format_tokens(limit)} tokens of context"

    def _message(self, message: ChatMessage, *, is_last: bool) -> None:
        if message.role == "user":
            with ui.row().classes("w-full gap-1 justify-end items-start no-wrap").props("data-testid=prompt"):
                self._icon_button("delete_outline", "Delete message", lambda: self.actions.delete_message(self.column.id, message.id))
                with ui.column().classes("min-w-0 max-w-[85%] gap-2 rounded-lg px-3 py-2 bg-indigo-50 dark:bg-indigo-950"):
                    if message.content:
                        MarkdownView(message.content)
                    for url in message.images:
                        ui.image(url).classes("w-32 rounded")
            return
        with ui.column().classes("w-full gap-1").props("data-testid=answer"):
            if message.note or message.stopped:
                with ui.row().classes("gap-1"):
                    if message.note:
                        ui.badge(message.note, color="grey-6").props("outline")
                    if message.stopped:
                        ui.badge("stopped", color="warning").props("outline")
            if message.content:
                MarkdownView(message.content)
            if message.error:
                self._error(message.error)
            if message.metrics:
                ui.label(metrics_text(message.metrics, anonymous=self.hidden)).classes("text-xs text-grey-7").props("data-testid=metrics")
            self._answer_actions(message, is_last=is_last)

    def _error(self, text: str) -> None:
        with ui.row().classes("w-full items-start gap-2 rounded px-3 py-2 bg-red-50 dark:bg-red-950 text-negative no-wrap").props(
            "data-testid=column-error"
        ):
            ui.icon("error_outline").classes("mt-0.5")
            ui.label(text).classes("text-sm break-words min-w-0")

    def _answer_actions(self, message: ChatMessage, *, is_last: bool) -> None:
        with ui.row().classes("gap-0"):
            if message.content:
                self._icon_button("content_copy", "Copy answer", lambda: self._copy(message.content))
            if is_last:
                self._icon_button("refresh", "Regenerate", lambda: self.actions.regenerate(self.column.id))
                if message.content:
                    self._icon_button("call_split", "Continue with this reply", lambda: self.actions.continue_with(self.column.id))
            self._icon_button("delete_outline", "Delete message", lambda: self.actions.delete_message(self.column.id, message.id))

    @staticmethod
    def _copy(text: str) -> None:
        ui.clipboard.write(text)
        ui.notify("Answer copied", type="positive", timeout=1200)

    def _live(self, run: ColumnRun) -> None:
        with ui.column().classes("w-full gap-1").props("data-testid=live-answer"):
            with ui.row().classes("items-center gap-2"):
                ui.spinner("dots", size="sm", color="primary")
                ui.label("answering…").classes("text-xs text-grey-7")
            view = MarkdownView(run.text)
            run.take_new_text()  # everything so far is in the view already
            metrics = ui.label(metrics_text(run.metrics(), anonymous=self.hidden, live=True)).classes("text-xs text-grey-7").props(
                "data-testid=live-metrics"
            )
        self.live = (run, view, metrics)

    # --- streaming -----------------------------------------------------------------------------

    def pump(self) -> None:
        """One page tick: append the new text and refresh the live metrics; redraw once finished."""
        if self.live is None:
            return
        run, view, metrics = self.live
        if run.finished:
            self.render()
            return
        new_text = run.take_new_text()
        if new_text:
            view.append(new_text)
        metrics.set_text(metrics_text(run.metrics(), anonymous=self.hidden, live=True))

    def show_warning(self, text: str | None) -> None:
        self.warning.set_text(text or "")
        self.warning.set_visibility(bool(text))


async def edit_column_settings(settings: ColumnSettings, *, title: str, everywhere: bool) -> ColumnSettings | None:
    """The settings form of one column; returns the new settings, or None when cancelled."""
    with transient_dialog() as dialog, ui.card().classes("w-full max-w-lg gap-3").props("data-testid=column-settings"):
        ui.label(f"Settings · {title}").classes("text-lg font-semibold")
        if everywhere:
            ui.label("Same settings everywhere is on: these apply to every column.").classes("text-sm text-grey-7")
        system = ui.textarea("System prompt", value=settings.system_prompt).props("outlined autogrow").classes("w-full")
        temperature = _slider("Temperature", settings.temperature, 0, 2, 0.05)
        top_p = _slider("Top p", settings.top_p, 0, 1, 0.05)
        max_tokens = ui.number("Max tokens", value=settings.max_tokens, min=1, max=1_000_000, step=1, precision=0).props(
            "outlined dense"
        ).classes("w-full")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=lambda: dialog.submit(None)).props("flat no-caps")
            ui.button("Apply", on_click=lambda: dialog.submit(ColumnSettings(
                system_prompt=system.value or "", temperature=float(temperature.value), top_p=float(top_p.value),
                max_tokens=max(1, int(max_tokens.value or settings.max_tokens)),
            ))).props("unelevated no-caps color=primary")
    chosen: ColumnSettings | None = await dialog
    return chosen


def _slider(label: str, value: float, low: float, high: float, step: float) -> ui.slider:
    with ui.row().classes("w-full items-center gap-3 no-wrap"):
        ui.label(label).classes("text-sm w-24 shrink-0")
        slider = ui.slider(min=low, max=high, step=step, value=value).props("label").classes("grow")
        ui.label().bind_text_from(slider, "value", lambda v: f"{v:g}").classes("text-sm w-10 text-right")
    return slider

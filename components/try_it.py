"""A "try it" box: send a short prompt to a model through the real router, in-process, and show the
answer with the attempt trail — the same path a ``/v1`` call takes, metered as a console call."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from app.runtime import get_hub
from components.attempt_trail import attempt_trail
from components.markdown_view import MarkdownView
from services.accounts.sessions import SessionUser
from services.accounts.tokens import Principal
from services.errors import GatewayError
from services.usage.settings import redact

DEFAULT_PROMPT = "Say hello in five words."
MAX_TOKENS = 256


class TryIt:
    def __init__(self, user: SessionUser, model: str) -> None:
        self.user = user
        self.model = model
        with ui.column().classes("w-full gap-2").props(f"data-testid=try-{model}"):
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                self.prompt = ui.input("Try it", value=DEFAULT_PROMPT).classes("grow").props("dense outlined")
                self.prompt.on("keydown.enter", self.send)
                self.button = ui.button("Send", icon="send", on_click=self.send).props("no-caps color=primary")
            self.result = ui.column().classes("w-full gap-2")

    async def send(self) -> None:
        text = (self.prompt.value or "").strip()
        if not text:
            self.prompt.error = "type a short prompt"
            return
        self.prompt.error = None
        body = {"model": self.model, "messages": [{"role": "user", "content": text}], "max_tokens": MAX_TOKENS}
        self.button.props("loading")
        try:
            response, meta = await get_hub().gateway.chat(Principal(user_id=self.user.id, role=self.user.role), body, source="console")
        except GatewayError as error:
            self._show_error(f"{error.status} {error.code}: {error.message}", error.attempts)
            return
        finally:
            self.button.props(remove="loading")
        answer = ((response.get("choices") or [{}])[0].get("message") or {}).get("content") or ""
        served = meta.served
        self.result.clear()
        with self.result:
            with ui.element("div").classes("w-full rounded-borders p-3 bg-grey-2 dark:bg-slate-800").props("data-testid=try-answer"):
                MarkdownView(answer or "(empty answer)")
            route = f"{served.route.provider.name}/{served.route.upstream_model} · key {served.key.label}" if served else "—"
            ui.label(f"Served by {route} in {meta.elapsed_ms:.0f} ms").classes("text-xs text-grey-7")
            attempt_trail(meta.trail.as_dicts())

    def _show_error(self, message: str, attempts: list[dict[str, Any]]) -> None:
        """The error, and how the router got there (as the Logs page shows it), provider texts redacted."""
        self.result.clear()
        with self.result:
            with ui.row().classes("items-start gap-2 no-wrap text-negative").props("data-testid=try-error"):
                ui.icon("error_outline")
                ui.label(message).classes("text-sm")
            if attempts:
                attempt_trail(redact(attempts))

"""A logical model's response cache settings in the model panel (``services.cache.policy``), and its purge button."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from services.cache.policy import CacheSettings

SCOPES = {"token": "Each token its own", "person": "Shared by a person's tokens", "everyone": "Shared by everyone"}


class CacheSettingsForm:
    """The fields of ``CacheSettings``; ``value()`` is what the model's ``cache`` becomes (None: off)."""

    def __init__(self, settings: CacheSettings | None, purge: Callable[[], Awaitable[None]] | None) -> None:
        shown = settings or CacheSettings()
        with ui.column().classes("w-full gap-1").props("data-testid=cache-settings"):
            with ui.row().classes("w-full items-center gap-x-4 gap-y-0 flex-wrap"):
                self.enabled = ui.switch("Cache answers", value=settings is not None and settings.enabled)
                self.enabled.props("data-testid=cache-enabled")
                self.deterministic = ui.switch("Only at temperature 0", value=shown.only_deterministic)
                self.deterministic.tooltip("Calls with a temperature above 0 ask for variety: they go upstream every time.")
            with ui.row().classes("w-full items-start gap-x-3 gap-y-0 flex-wrap") as self.details:
                self.scope = ui.select(SCOPES, value=shown.scope, label="Who finds an answer").classes("w-full sm:w-56").props(
                    "data-testid=cache-scope")
                self.ttl = ui.number("Kept for (seconds)", value=shown.ttl_seconds, min=1, precision=0).classes("w-full sm:w-36")
                self.max_entries = ui.number("Most entries", value=shown.max_entries, min=1, precision=0).classes("w-full sm:w-32")
                self.max_entries.props("clearable placeholder=no limit")
            with ui.row().classes("w-full items-start gap-x-3 gap-y-0 flex-wrap") as self.semantic_row:
                self.semantic = ui.switch("Semantic: near-duplicate questions", value=shown.semantic).classes("pt-2")
                self.semantic.tooltip("The last user turn is embedded; a stored answer is reused when its question is at least "
                                      "this similar and the rest of the conversation is the same.")
                self.threshold = ui.number("Similarity ≥", value=shown.threshold, min=0.5, max=1.0, step=0.01, precision=2).classes(
                    "w-full sm:w-28")
                self.embedding_model = ui.input("Embedding model", value=shown.embedding_model or "",
                                                placeholder="a model behind this hub").classes("w-full sm:w-48")
            if purge is not None:
                ui.button("Purge cached answers", icon="delete_sweep", on_click=purge).props(
                    "no-caps flat dense color=negative data-testid=cache-purge")
        for row in (self.details, self.semantic_row):
            row.bind_visibility_from(self.enabled, "value")
        for field in (self.threshold, self.embedding_model):
            field.bind_visibility_from(self.semantic, "value")

    def value(self) -> dict[str, Any] | None:
        if not self.enabled.value:
            return None
        return {
            "enabled": True, "scope": self.scope.value, "ttl_seconds": int(self.ttl.value or 3600),
            "only_deterministic": self.deterministic.value, "max_entries": int(self.max_entries.value) if self.max_entries.value else None,
            "semantic": self.semantic.value, "threshold": float(self.threshold.value or 0.92),
            "embedding_model": (self.embedding_model.value or "").strip() or None,
        }

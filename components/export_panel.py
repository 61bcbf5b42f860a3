"""The console's export card: an export is streamed into a file in a worker thread while a progress
bar counts rows, then the browser downloads it from ``/usage/download/<id>`` — a signed-in route
that serves the file once, to the person who made it, and deletes it afterwards."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi.responses import FileResponse, PlainTextResponse, Response
from nicegui import app, ui
from nicegui.elements.mixins.disableable_element import DisableableElement
from starlette.background import BackgroundTask

from app.auth import current_user
from app.runtime import get_hub
from components.blocking import io_bound
from components.filters import FilterState
from services.usage.analytics import breakdown
from services.usage.exports import (
    MEDIA_TYPES,
    Format,
    Kind,
    count_records,
    export_stream,
    filename,
    write_export,
)
from services.usage.queries import Viewer

DOWNLOAD_PATH = "/usage/download"
BUTTONS: tuple[tuple[Kind, Format, str], ...] = (
    ("records", "csv", "Records CSV"), ("records", "json", "Records JSON"),
    ("aggregate", "csv", "Table CSV"), ("aggregate", "json", "Table JSON"),
)

BODIES_HINT = "Logged bodies hold message content (secrets redacted) and exist only for calls made while body logging was on."


@dataclass(frozen=True, slots=True)
class ReadyExport:
    user_id: int
    path: Path
    filename: str
    media_type: str


_ready: dict[str, ReadyExport] = {}


@app.get(f"{DOWNLOAD_PATH}/{{export_id}}", include_in_schema=False)
def download(export_id: str) -> Response:
    user = current_user()
    ready = _ready.get(export_id)
    if user is None or ready is None or ready.user_id != user.id:
        return PlainTextResponse("This export is gone or not yours.", status_code=404)
    del _ready[export_id]
    return FileResponse(ready.path, filename=ready.filename, media_type=ready.media_type,
                        background=BackgroundTask(ready.path.unlink, missing_ok=True))


def _discard(export_id: str) -> None:
    ready = _ready.pop(export_id, None)
    if ready is not None:
        ready.path.unlink(missing_ok=True)


def _count(kind: Kind, state: FilterState, viewer: Viewer) -> int:
    engine = get_hub().engine
    if kind == "records":
        return count_records(engine, state.filters, viewer, state.window)
    return breakdown(engine, state.filters, viewer, state.window, limit=1).total


class ExportPanel:
    def __init__(self, user_id: int, viewer: Viewer, current_state: Callable[[], Awaitable[FilterState]]) -> None:
        self.user_id = user_id
        self.viewer = viewer
        self.current_state = current_state
        self.rows_done = 0
        self.rows_total = 0
        with ui.card().classes("w-full gap-2").props("flat bordered data-testid=export-panel"):
            ui.label("Export").classes("text-base font-medium")
            ui.label("Downloads hold exactly what the filters select: the raw request records or the user × model table. "
                     "No secrets.").classes("text-sm text-grey-7")
            with ui.row().classes("gap-x-6 gap-y-3 items-center"):
                with ui.row().classes("gap-2 items-center"):
                    self.buttons = self._buttons("records")
                    self.with_bodies = ui.checkbox("Include logged bodies").props("dense data-testid=export-bodies")
                with ui.row().classes("gap-2"):
                    self.buttons += self._buttons("aggregate")
            ui.label(BODIES_HINT).classes("text-xs text-grey-7")
            self.progress = ui.linear_progress(value=0, show_value=False).props("rounded size=8px data-testid=export-progress")
            self.progress.set_visibility(False)
            self.status = ui.label("").classes("text-sm text-grey-7").props("data-testid=export-status")
        self.timer = ui.timer(0.3, self._show_progress, active=False)

    def _buttons(self, kind: Kind) -> list[ui.button]:
        return [ui.button(label, icon="download", on_click=lambda f=fmt: self.export(kind, f)).props("outline no-caps")
                for button_kind, fmt, label in BUTTONS if button_kind == kind]

    def _show_progress(self) -> None:
        share = self.rows_done / self.rows_total if self.rows_total else 0
        self.progress.value = round(min(share, 1.0), 3)
        self.status.text = f"Exporting… {self.rows_done:,} of {self.rows_total:,} rows"

    def _set_busy(self, busy: bool) -> None:
        controls: list[DisableableElement] = [*self.buttons, self.with_bodies]
        for control in controls:
            control.set_enabled(not busy)
        self.progress.set_visibility(busy)
        self.timer.active = busy

    async def export(self, kind: Kind, fmt: Format) -> None:
        state = await self.current_state()
        with_bodies = kind == "records" and bool(self.with_bodies.value)
        self.rows_done, self.rows_total = 0, await io_bound(_count, kind, state, self.viewer)
        folder = get_hub().options.data_dir / "exports"
        folder.mkdir(exist_ok=True)
        export_id = secrets.token_urlsafe(16)
        path = folder / f"{export_id}.{fmt}"
        self._set_busy(True)
        try:
            chunks = export_stream(get_hub().engine, kind, fmt, state.filters, self.viewer, state.window,
                                   with_bodies=with_bodies, progress=self._note_rows)
            await io_bound(write_export, path, chunks)
        except Exception:
            path.unlink(missing_ok=True)
            self.status.text = "The export failed; please try again."
            raise
        except asyncio.CancelledError:  # abandoned (the app is stopping): leave no half-written file behind
            path.unlink(missing_ok=True)
            raise
        finally:
            self._set_busy(False)
        name = filename(kind, fmt, state.window)
        _ready[export_id] = ReadyExport(self.user_id, path, name, MEDIA_TYPES[fmt])
        ui.context.client.on_delete(lambda: _discard(export_id))
        self.status.text = f"{name}: {self.rows_total:,} rows"
        ui.download.from_url(f"{DOWNLOAD_PATH}/{export_id}")

    def _note_rows(self, done: int) -> None:
        """Called from the export thread after each batch (an int assignment is atomic)."""
        self.rows_done = done

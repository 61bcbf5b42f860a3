"""A page's shareable state lives in its query string (``/compare?conversation=7``, ``/logs?request=…``).

The page reads it when it is built (``query()``), and writes it as the state changes: ``push`` for a
step the Back button should undo (opening a conversation or a request), ``replace`` for a refinement
that should not pile up history. Back and Forward either reload the page from the URL they land on
(``reload_on_history``), so every state the browser can return to is one the page can be built from,
or hand the page that URL's parameters (``on_history``) for it to follow in place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import urlencode

from nicegui import ui

RELOAD_ON_HISTORY = "<script>window.addEventListener('popstate', () => window.location.reload());</script>"
EMIT_ON_HISTORY = """<script>
window.addEventListener('popstate', () => emitEvent('llmhub_history', Object.fromEntries(new URLSearchParams(location.search))));
</script>"""


def query() -> dict[str, str]:
    """The query parameters the page was opened with."""
    request = ui.context.client.request
    return dict(request.query_params) if request is not None else {}


def url(path: str, params: Mapping[str, object | None]) -> str:
    """``path`` with the parameters that have a value (None and "" are left out)."""
    kept = {name: str(value) for name, value in params.items() if value not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path


def push(path: str, params: Mapping[str, object | None]) -> None:
    ui.navigate.history.push(url(path, params))


def replace(path: str, params: Mapping[str, object | None]) -> None:
    ui.navigate.history.replace(url(path, params))


def reload_on_history() -> None:
    """Back and Forward rebuild the page from the URL they land on (add once per page)."""
    ui.add_body_html(RELOAD_ON_HISTORY)


def on_history(handler: Callable[[dict[str, str]], Awaitable[None] | None]) -> None:
    """Back and Forward call ``handler`` with the parameters of the URL they land on (add once per page)."""
    ui.add_body_html(EMIT_ON_HISTORY)
    ui.on("llmhub_history", lambda event: handler(dict(event.args or {})))


Show = Callable[[str], Awaitable[ui.dialog | None]]
"""Draw the item a URL value names in a dialog (not yet open) and return it; None when there is no such item."""


class UrlDetail:
    """One item shown over a page in a dialog and named in its URL (``/logs?request_id=…``, ``/models?model=…``).

    Opening it from the page pushes a history step, so Back closes it and Forward reopens it; closing it by hand
    takes that step back. Opened from the URL itself (a reload, a shared link) it adds no step, and closing it
    only drops the parameter. ``params`` gives the page's other parameters, kept beside it.
    """

    def __init__(self, path: str, name: str, show: Show, params: Callable[[], Mapping[str, object | None]] = dict) -> None:
        self.path = path
        self.name = name
        self.show = show
        self.params = params
        self.value: str | None = None
        self.dialog: ui.dialog | None = None
        self.pushed = False

    def url(self, value: str | None) -> str:
        return url(self.path, {**self.params(), self.name: value})

    async def open(self, value: str, *, from_url: bool = False) -> None:
        dialog = await self.show(value)
        self.close()
        if dialog is None:
            if from_url:
                replace(self.path, {**self.params(), self.name: None})
            return
        self.value, self.dialog, self.pushed = value, dialog, not from_url
        if self.pushed:
            push(self.path, {**self.params(), self.name: value})
        dialog.on_value_change(lambda event: None if event.value else self._closed_by_hand(dialog))
        dialog.open()

    def close(self) -> None:
        """Close the open item (if any) without touching the URL."""
        dialog, self.dialog, self.value = self.dialog, None, None
        if dialog is not None:
            dialog.close()

    def _closed_by_hand(self, dialog: ui.dialog) -> None:
        if dialog is not self.dialog:
            return  # closed by ``close``: the URL is already right
        self.dialog, self.value = None, None
        if self.pushed:
            ui.navigate.back()
        else:
            replace(self.path, self.params())

    async def follow(self, params: Mapping[str, str]) -> None:
        """Back or Forward landed on ``params``: show the item they name, or none."""
        value = params.get(self.name)
        if value and value != self.value:
            await self.open(value, from_url=True)
        elif not value:
            self.close()

    def copy_link(self, base_url: str, value: str) -> None:
        ui.clipboard.write(base_url + self.url(value))
        ui.notify("Link copied", type="positive", timeout=1200)

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

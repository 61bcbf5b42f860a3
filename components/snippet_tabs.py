"""Code snippets in tabs (curl / Python / TypeScript), each with NiceGUI's copy button; and this
server's address as the browser reached it, which the snippets are filled in with."""

from __future__ import annotations

from nicegui import ui

from services.accounts.snippets import Snippet


def server_url() -> str:
    """The address the browser used for this page (scheme, host and port), without a trailing slash."""
    request = ui.context.client.request
    return str(request.base_url).rstrip("/") if request is not None else ""


def snippet_tabs(snippets: list[Snippet], *, testid: str = "snippets") -> None:
    with ui.column().classes("w-full gap-0 min-w-0").props(f"data-testid={testid}"):
        with ui.tabs().props("dense no-caps align=left inline-label").classes("text-indigo-600 dark:text-indigo-300") as tabs:
            panels = {snippet.title: ui.tab(snippet.title) for snippet in snippets}
        with ui.tab_panels(tabs, value=panels[snippets[0].title]).classes("w-full bg-transparent min-w-0"):
            for snippet in snippets:
                with ui.tab_panel(panels[snippet.title]).classes("p-0 pt-2 min-w-0"):
                    ui.code(snippet.code, language=snippet.language).classes("w-full text-xs").props(
                        f"data-testid=snippet-{snippet.title.lower()}"
                    )

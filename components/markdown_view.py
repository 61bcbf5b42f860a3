"""Model output and user text as markdown: raw HTML shown as text, code highlighted, copy buttons on code.

The HTML comes from ``components.safe_markdown.render_markdown`` (raw tags escaped on the server)
and DOMPurify sanitizes it again in the browser. While an answer streams, ``append`` adds plain
text to the element in the browser (``textContent``, never parsed as HTML), so a streaming column
costs one small message per page tick instead of the whole answer each time; the page swaps in
the rendered markdown when the answer is complete.
"""

from __future__ import annotations

from nicegui import ui

from components.safe_markdown import render_markdown


class MarkdownView(ui.markdown, component="markdown_view.js"):
    def __init__(self, content: str = "") -> None:
        super().__init__(content)
        self.classes("markdown-view w-full min-w-0")

    def _handle_content_change(self, content: str) -> None:
        html = render_markdown(content) if content else ""
        if self._props.get("innerHTML") != html:
            self._props["innerHTML"] = html

    def append(self, text: str) -> None:
        """Append streamed text (shown as plain text until the final markdown replaces it)."""
        if text:
            self.run_method("append", text)

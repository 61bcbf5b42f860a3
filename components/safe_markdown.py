"""Markdown for text we did not write (model output, user prompts): raw HTML is shown as text
(``components.markdown_view.MarkdownView`` renders it)."""

from __future__ import annotations

import markdown2

EXTRAS = ["fenced-code-blocks", "tables", "break-on-newline"]


def render_markdown(text: str) -> str:
    """HTML for ``text`` with every raw HTML tag escaped (``<b>`` shows as ``<b>``, not bold)."""
    html: str = markdown2.markdown(text, safe_mode="escape", extras=EXTRAS)
    return html

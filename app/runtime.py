"""The process-wide Hub, set once at start (the console pages and the API both read it)."""

from __future__ import annotations

from services.hub import Hub

_hub: Hub | None = None


def set_hub(hub: Hub) -> None:
    global _hub
    _hub = hub


def get_hub() -> Hub:
    if _hub is None:
        raise RuntimeError("the hub is not started")
    return _hub

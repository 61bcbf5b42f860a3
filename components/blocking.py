"""``io_bound``: NiceGUI's ``run.io_bound`` (a blocking call on a worker thread) typed as the call's own result.

NiceGUI 3 answers ``None`` in place of the result when the call was abandoned: the app is stopping,
its thread pool is shut down, or the task awaiting the call was cancelled. So ``run.io_bound`` is
typed ``R | None`` even for a call that never returns ``None``, and each caller had to check. This
helper raises ``asyncio.CancelledError`` in those cases instead (what NiceGUI 4 will do itself): the
page builder, event handler or timer stops right there, as the pages did with ``if … is None: return``,
and NiceGUI ends a cancelled task silently (``except Exception`` blocks let it through). A ``None``
it returns is the call's own answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from nicegui import run

P = ParamSpec("P")
R = TypeVar("R")


async def io_bound(call: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """``call(*args, **kwargs)`` on NiceGUI's thread pool; raises ``asyncio.CancelledError`` when it was abandoned."""

    def boxed() -> tuple[R]:  # a one-item tuple, so that a None answer of `call` cannot be mistaken for "abandoned"
        return (call(*args, **kwargs),)

    answer = await run.io_bound(boxed)
    if answer is None:
        raise asyncio.CancelledError
    return answer[0]

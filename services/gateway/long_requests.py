"""Work that grows with a conversation's length, taken off the event loop when the conversation is long.

Validating and translating a request is linear in its size, but a 100,000-message body still costs
seconds of Python: on the event loop, every other call and ``/health`` would wait for it. A long
conversation's validation and translation run in a worker thread instead. The thread still needs the
GIL, but the interpreter hands it back to the event loop every switch interval, so other calls keep
being answered while the long one is prepared. Short requests (nearly all) stay inline: a thread hop
costs more than their whole preparation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

LONG_CONVERSATION = 1_000  # items in a request's message list
LONG_BODY_BYTES = 1 << 20  # a body parsed off the loop (parsing is fast C, but holds the GIL)
CONVERSATION_FIELDS = ("messages", "input", "contents")  # chat and Messages; Responses and embeddings; Gemini


def is_long(body: Any) -> bool:
    """Whether a request body holds a conversation (or input list) long enough to prepare off the loop."""
    if not isinstance(body, dict):
        return False
    return any(isinstance(items := body.get(name), list) and len(items) >= LONG_CONVERSATION for name in CONVERSATION_FIELDS)


async def prepared(long: bool, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``work(*args, **kwargs)``: inline, or in a worker thread when the request is ``long``."""
    if not long:
        return work(*args, **kwargs)
    return await asyncio.to_thread(work, *args, **kwargs)

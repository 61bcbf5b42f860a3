"""OpenAI's server-sent event framing for streamed chat completions, written to the ASGI ``send`` by hand.

Low-level on purpose: this is the gateway's hot path (streams are most of a gateway's answers), and
two things starlette's ``StreamingResponse`` would do generically cost more than they need to here.

* **The client going away.** ``StreamingResponse`` watches for ``http.disconnect`` under uvicorn
  (ASGI spec 2.3) with an anyio task group per answer. Here a plain task waits for the disconnect
  and cancels the sending task, and it starts only when the stream first has to wait for its
  upstream: until then there is nothing to stop.
* **One socket write per upstream read, not per chunk.** A list of chunks is what one upstream
  read brought, and the chunks already there go out in one ``send``. To know whether the next list
  is there without waiting for it, the stream's next step is started by hand (``step.send(None)``):
  a list that comes without waiting joins the batch; before any wait the batch goes out, so no
  chunk is ever held back; the step parked meanwhile is then awaited through ``ParkedStep``, which
  hands whatever the event loop sends or throws on to it as if it had been awaited from the start.

``app.api.v1.chat_answer`` returns an ``EventStreamResponse`` for the FastAPI route and the raw fast
path (``app.api.fast_path``) alike. What these choices bought is measured in ``bench/README.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any

from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

ERROR_CHUNK = b'{"error"'
"""How an error chunk's JSON text starts (``GatewayError.body()``); an upstream's never does, as
adapters raise those."""


class EventStreamResponse(Response):
    """OpenAI's stream framing of chunks that come as JSON text in lists (``data: {...}``, then
    ``data: [DONE]`` unless the stream ended in an error chunk), stopping, and closing its
    upstream, when the client goes away.

    Starlette's ``StreamingResponse`` does the same under uvicorn (ASGI spec 2.3) with an anyio task
    group per answer; a plain task that waits for ``http.disconnect`` and cancels the sending task
    costs a fraction of that, and streams are most of a gateway's answers. That task starts only
    when the stream first has to wait for its upstream: until then there is nothing to stop.
    """

    done = b"data: [DONE]\n\n"
    """What ends a stream that did not end in an error chunk."""

    def __init__(self, chunks: AsyncIterator[list[bytes]], headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = 200
        self.background = None
        self.raw_headers = [*headers, (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
        self.chunks = chunks
        self.finished = False
        self.client_left = False
        self._watcher: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            await self._send_chunks(send, lambda: self._watch(receive, task))
        except asyncio.CancelledError:
            if not self.client_left or task.uncancel() > 0:
                raise  # a cancellation from elsewhere (shutdown) goes on
        finally:
            if self._watcher is not None:
                self._watcher.cancel()
            await self.chunks.aclose()  # type: ignore[attr-defined]

    def _watch(self, receive: Receive, task: asyncio.Task[None]) -> None:
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._cancel_on_disconnect(receive, task))

    async def _send_chunks(self, send: Send, before_waiting: Callable[[], None]) -> None:
        """Every chunk as soon as it is there, and the chunks that are there already in one ``send``.

        A list of chunks is what one upstream read brought; a ``send`` each would cost a socket
        write each. So the next list is asked for by hand (``step.send(None)``): one that comes
        without waiting joins the batch, and before any wait the batch goes out, so no chunk is ever
        held back. The last batch goes out with the end of the body, in the same write.
        """
        ready: list[bytes] = []
        last = b""
        frame = self.frame
        while True:
            step = self.chunks.__anext__()
            try:
                waiting_on = step.send(None)  # type: ignore[attr-defined]  # a coroutine, which an Awaitable need not be
            except StopIteration as got:
                last = frame(got.value, ready)
                continue
            except StopAsyncIteration:
                break
            before_waiting()
            if ready:
                await _send_batch(send, ready, step, waiting_on)
            try:
                last = frame(await ParkedStep(step, waiting_on), ready)
            except StopAsyncIteration:
                break
        if self.done and not last.startswith(ERROR_CHUNK):
            ready.append(self.done)
        self.finished = True
        await send({"type": "http.response.body", "body": b"".join(ready), "more_body": False})

    @staticmethod
    def frame(chunks: list[bytes], ready: list[bytes]) -> bytes:
        """Add the chunks' server-sent events to ``ready``; the last chunk is handed back."""
        ready.append(b"data: " + b"\n\ndata: ".join(chunks) + b"\n\n")
        return chunks[-1]

    async def _cancel_on_disconnect(self, receive: Receive, task: asyncio.Task[None]) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if not self.finished:
            self.client_left = True
            task.cancel()


class FramedEventStream(EventStreamResponse):
    """A stream whose chunks are whole server-sent events already (an inbound dialect's, or a
    provider's own relayed as it wrote them): they go out as they are, and nothing is added at the end."""

    done = b""

    @staticmethod
    def frame(chunks: list[bytes], ready: list[bytes]) -> bytes:
        ready += chunks
        return b""


async def _send_batch(send: Send, batch: list[bytes], step: Any = None, waiting_on: Any = None) -> None:
    """The chunks of ``batch`` in one ``send``, then an empty batch. Should the send fail, a ``step``
    parked meanwhile on ``waiting_on`` is first unwound by the same error, as if it had been awaited."""
    try:
        await send({"type": "http.response.body", "body": b"".join(batch), "more_body": True})
    except BaseException as error:
        if step is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await ParkedStep(step, waiting_on, error)
        raise
    batch.clear()


class ParkedStep:
    """The rest of a coroutine step that was started by hand and is parked on ``waiting_on`` (what it
    yielded for the event loop): awaiting this hands that on to the task, and everything the task
    sends or throws back goes into the step, as if it had been awaited from the start. With
    ``error``, that is thrown into the step first."""

    def __init__(self, step: Any, waiting_on: Any, error: BaseException | None = None) -> None:
        self.step = step
        self.waiting_on = waiting_on
        self.error = error

    def __await__(self) -> Generator[Any, Any, Any]:
        try:
            value = self.waiting_on if self.error is None else self.step.throw(self.error)
            while True:
                try:
                    sent = yield value
                except BaseException as error:
                    value = self.step.throw(error)
                else:
                    value = self.step.send(sent)
        except StopIteration as done:
            return done.value

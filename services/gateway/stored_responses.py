"""Stored Responses API answers: ``store`` and ``previous_response_id`` of ``POST /v1/responses``, and
``GET`` / ``DELETE /v1/responses/{id}``.

The hub keeps them itself, whatever route served them, so a conversation can go on through any
provider: a request naming a ``previous_response_id`` reaches the dialect with the conversation up to
that response spelled out in its ``input`` (the earlier input items, then that response's output
items). A stored response is the token's own: any other token (and the master key for a token's,
and the other way round) gets a 404, as for an id that never existed.

The request path stays off the database: an answer is kept in memory at once (the latest
``RECENT_LIMIT``, which is what a conversation continues from) and queued; the queue is written
in one transaction every ``WRITE_INTERVAL`` seconds by a worker thread (a transaction per answer cost
more than the rest of the call). Only an id missing from memory (older, or answered by another
instance) is read from the table.
Rows go with the raw usage records (``services.usage.retention``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, delete, select

from services.accounts.tokens import Principal
from services.db import insert_rows
from services.errors import GatewayError
from services.gateway.adapters.base import Json
from services.gateway.dialects.openai_responses import input_items
from services.tables import StoredResponse

log = logging.getLogger(__name__)
STORED_RESPONSE = StoredResponse.__table__  # type: ignore[attr-defined]
RECENT_LIMIT = 2048
WRITE_INTERVAL = 0.25  # seconds an answer waits in the queue at most
FINAL_MARKS = (b"event: response.completed\n", b"event: response.incomplete\n")


@dataclass(frozen=True, slots=True)
class Kept:
    token_id: int | None
    items: list[Json]
    response: Json


def not_found(response_id: str) -> GatewayError:
    return GatewayError(404, "not_found", f"Response with id '{response_id}' not found.", param="response_id")


def as_input(output: list[Json]) -> list[Json]:
    """A response's output items as the next request's input (they are valid input items as they are)."""
    return [item for item in output if isinstance(item, dict)]


def final_response(event: bytes) -> Json | None:
    """The response a stream's closing event carries, or None for any other event."""
    if not event.startswith(FINAL_MARKS):
        return None
    start = event.find(b"data:")
    data = orjson.loads(event[start + 5 :]) if start >= 0 else {}
    return data.get("response") if isinstance(data, dict) else None


class ResponseStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._recent: OrderedDict[str, Kept] = OrderedDict()
        self._queued: list[tuple[str, Kept]] = []
        self._writer: asyncio.Task[None] | None = None  # set while it waits to write the queue
        self._writing = asyncio.Lock()

    async def conversation(self, principal: Principal, body: Any) -> tuple[Any, list[Json]]:
        """The body to answer (a ``previous_response_id`` replaced by the conversation it names) and that
        conversation's input items, for storing the answer; 404 for an id this token cannot see."""
        if not isinstance(body, dict):
            return body, []
        previous = body.get("previous_response_id")
        if previous is None:
            return body, input_items(body)
        if not isinstance(previous, str):
            raise GatewayError(400, "invalid_value", "`previous_response_id` must be a string.", param="previous_response_id")
        kept = await self._find(principal, previous)
        items = [*kept.items, *as_input(kept.response.get("output") or []), *input_items(body)]
        forwarded = {name: value for name, value in body.items() if name != "previous_response_id"}
        forwarded["input"] = items
        return forwarded, items

    def keep(self, principal: Principal, body: Any, items: list[Json], response: Json | None) -> None:
        """Remember an answer (not when the request said ``store: false``)."""
        if not isinstance(body, dict) or body.get("store") is False or not isinstance(response, dict) or not response.get("id"):
            return
        if isinstance(body.get("previous_response_id"), str):
            response = {**response, "previous_response_id": body["previous_response_id"]}
        kept = Kept(principal.token_id, items, response)
        self._remember(response["id"], kept)
        self._queued.append((response["id"], kept))
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_soon(), name="stored-responses")

    def keep_answer(self, principal: Principal, body: Any, items: list[Json], content: bytes) -> None:
        self.keep(principal, body, items, orjson.loads(content))

    async def kept_stream(self, principal: Principal, body: Any, items: list[Json],
                          batches: AsyncGenerator[list[bytes], None]) -> AsyncGenerator[list[bytes], None]:
        """A stream's batches passed on as they are; the response in its closing event is kept."""
        try:
            async for batch in batches:
                yield batch
                if batch and (response := final_response(batch[-1])) is not None:
                    self.keep(principal, body, items, response)
        finally:
            await batches.aclose()

    async def get(self, principal: Principal, response_id: str) -> Json:
        return (await self._find(principal, response_id)).response

    async def delete(self, principal: Principal, response_id: str) -> Json:
        await self._find(principal, response_id)
        await self.settle()  # its row may still be on its way in
        self._recent.pop(response_id, None)
        await asyncio.to_thread(self._delete, response_id)
        return {"id": response_id, "object": "response", "deleted": True}

    async def settle(self) -> None:
        """Write what is queued now, after any write under way (before a delete, and at shutdown)."""
        if self._writer is not None:  # still waiting: nothing of it is under way
            self._writer.cancel()
            self._writer = None
        await self._write_queued()

    async def _find(self, principal: Principal, response_id: str) -> Kept:
        kept = self._recent.get(response_id)
        if kept is None:
            kept = await asyncio.to_thread(self._read, response_id)
        if kept is None or kept.token_id != principal.token_id:
            raise not_found(response_id)
        return kept

    def _remember(self, response_id: str, kept: Kept) -> None:
        self._recent[response_id] = kept
        if len(self._recent) > RECENT_LIMIT:
            self._recent.popitem(last=False)

    async def _write_soon(self) -> None:
        try:
            await asyncio.sleep(WRITE_INTERVAL)
        finally:
            self._writer = None
        await self._write_queued()

    async def _write_queued(self) -> None:
        async with self._writing:
            queued, self._queued = self._queued, []
            if not queued:
                return
            try:
                await asyncio.to_thread(self._insert, queued)
            except Exception as error:  # the answers stay in memory; only a restart forgets them
                log.warning("%d stored responses could not be written: %s", len(queued), error)

    def _insert(self, queued: list[tuple[str, Kept]]) -> None:
        rows = [{"response_id": response_id, "token_id": kept.token_id, "items": kept.items, "response": kept.response}
                for response_id, kept in queued]
        with self.engine.begin() as connection:
            insert_rows(connection, STORED_RESPONSE, rows)

    def _read(self, response_id: str) -> Kept | None:
        with Session(self.engine) as session:
            row = session.exec(select(StoredResponse).where(col(StoredResponse.response_id) == response_id)).first()
        return None if row is None else Kept(row.token_id, list(row.items or []), dict(row.response or {}))

    def _delete(self, response_id: str) -> None:
        with Session(self.engine) as session:
            session.exec(delete(StoredResponse).where(col(StoredResponse.response_id) == response_id))
            session.commit()

"""The usage recorder: one record per client request, queued in memory and written in batches.

The request path only appends to a queue; a background task writes batches with one bulk INSERT
in a worker thread, so a request never waits on SQLite. ``stop`` drains the queue.

The same transaction upserts the hourly and daily rollups (``services.usage.rollups``) and stores the
redacted bodies a row may carry (``request_body`` / ``response_body``, present only while body
logging is on), so the rollups never disagree with the raw rows. Each written batch then feeds the
Prometheus metrics (``services.gateway.metrics``).

Given a journal folder, each queued row is also appended to the usage journal
(``services.usage.journal``) and replayed from it at the next start if the process died before its
batch committed: at most the rows of calls whose answer was on its way out when the process was killed
are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from services.clock import utcnow
from services.db import insert_rows
from services.gateway import metrics
from services.tables import GatewayToken, UsageBody
from services.usage.journal import REPLAY_CHUNK, UsageJournal, read_rows, unrecorded
from services.usage.rollups import apply_rollups, ensure_rollups
from services.usage.tables import USAGE_RECORD

log = logging.getLogger(__name__)


class UsageRecorder:
    def __init__(
        self,
        engine: Engine,
        *,
        batch_size: int = 500,
        flush_interval: float = 0.25,
        after_write: Callable[[], None] | None = None,
        journal_dir: Path | None = None,
    ) -> None:
        self.engine = engine
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.after_write = after_write
        self._pending: list[dict[str, Any]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.written = 0
        self.journal = UsageJournal(journal_dir) if journal_dir is not None else None

    def record(self, row: dict[str, Any]) -> None:
        """Queue one usage row (a dict of UsageRecord columns). Never blocks."""
        row.setdefault("created_at", utcnow())
        self._pending.append(row)
        if self.journal is not None:
            self.journal.append(row)
        if len(self._pending) >= self.batch_size:
            self._wakeup.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="usage-recorder")

    async def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush()
        if self.journal is not None:
            self.journal.clear()

    async def flush(self) -> None:
        """Write every queued row (at stop, and wherever every row must be stored before going on),
        the rows of calls metered right after their answer (``Gateway._record``) included."""
        await asyncio.sleep(0)
        while self._pending:
            await self._write_next_batch()

    async def _write_next_batch(self) -> None:
        batch, self._pending = self._pending[: self.batch_size], self._pending[self.batch_size :]
        closed = self.journal.rotate() if self.journal is not None and not self._pending else None
        try:
            await asyncio.to_thread(self.write_batch, batch)
        except Exception:
            self._pending[:0] = batch
            raise
        if closed is not None and self.journal is not None:
            self.journal.drop_through(closed)

    async def _run(self) -> None:
        """One batch a round: each ``flush_interval``, or at once while a full batch is waiting.

        Not a drain to empty: under load, rows keep arriving while a batch is written, and writing
        those at once would keep the writer thread busy with a stream of small batches, each paying
        for a transaction and the rollup upserts and each taking the GIL from the event loop: under
        concurrent calls, such small batches cost the writer far more CPU per row than batches of
        hundreds (``bench/README.md``).
        """
        if self.journal is not None and self.journal.leftovers:
            await asyncio.to_thread(self._replay, self.journal)
        try:
            await asyncio.to_thread(ensure_rollups, self.engine)
        except Exception:  # the raw rows still get written; the rebuild is tried again at the next start
            log.exception("usage rollups could not be brought up to date")
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self.flush_interval)
            self._wakeup.clear()
            try:
                if self._pending:
                    await self._write_next_batch()
            except Exception:
                log.exception("usage batch could not be written; it will be retried")
            if len(self._pending) >= self.batch_size:
                self._wakeup.set()

    def _replay(self, journal: UsageJournal) -> None:
        """Write the rows a previous process journaled and did not commit, then forget its segments."""
        replayed = 0
        rows = list(read_rows(journal.leftovers))
        for start in range(0, len(rows), REPLAY_CHUNK):
            missing = unrecorded(self.engine, rows[start : start + REPLAY_CHUNK])
            if missing:
                self.write_batch(missing)
                replayed += len(missing)
        for path in journal.leftovers:
            path.unlink(missing_ok=True)
        journal.leftovers = []
        if replayed:
            log.warning("usage journal: %d usage rows the last process did not write were replayed", replayed)

    def write_batch(self, batch: list[dict[str, Any]]) -> None:
        """Write one batch of rows now, in this thread: the raw rows, their rollups and bodies in one
        transaction (the writer task's step; loaders such as ``bench/whatif.py`` call it directly)."""
        records, bodies = _split_bodies(batch)
        with Session(self.engine) as session:
            insert_rows(session.connection(), USAGE_RECORD, records)
            apply_rollups(session.connection(), records)
            if bodies:
                session.execute(insert(UsageBody), bodies)
            self._touch_tokens(session, batch)
            session.commit()
        metrics.USAGE_METRICS.observe(records)
        self.written += len(batch)
        if self.after_write is not None:
            self.after_write()

    @staticmethod
    def _touch_tokens(session: Session, batch: list[dict[str, Any]]) -> None:
        last_use: dict[int, Any] = {}
        for row in batch:
            if row.get("token_id") is not None:
                last_use[row["token_id"]] = row["created_at"]
        for token_id, moment in last_use.items():
            session.execute(update(GatewayToken).where(col(GatewayToken.id) == token_id).values(last_used_at=moment))


BODY_FIELDS = ("request_body", "response_body")


def _split_bodies(batch: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """UsageRecord rows without the logged bodies, and a UsageBody row for each row that carries some."""
    if not any(field in row for row in batch for field in BODY_FIELDS):
        return batch, []
    records: list[dict[str, Any]] = []
    bodies: list[dict[str, Any]] = []
    for row in batch:
        records.append({k: v for k, v in row.items() if k not in BODY_FIELDS})
        if row.get("request_body") is not None or row.get("response_body") is not None:
            bodies.append({"request_id": row["request_id"], "created_at": row["created_at"],
                           "request": row.get("request_body"), "response": row.get("response_body")})
    return records, bodies

"""The usage journal: a write-ahead append of every usage row, so that a killed process loses no
answered call's record.

The recorder writes rows to the database in batches (``services.usage.recorder``); a row waits in
memory for up to a flush interval. An answered call is billable, so each row is also appended, as one
JSON line, to a journal segment the moment it is queued (right after its answer's last write). What
the process had not committed when it died is replayed from the journal at the next start: rows whose
``request_id`` is already stored are skipped, so a batch that committed just before the kill is not
counted twice.

Segments: rows go to ``usage-journal/NNNNNNNN.jsonl``. When a batch takes every queued row, the
recorder starts a new segment before writing it and deletes the older ones once that batch has
committed, so the journal holds about one batch, not the history.

Durability: a segment is a file of ``SEGMENT_BYTES`` mapped into memory (``mmap``, shared), and a row
is copied into the mapping: the kernel's page cache holds it from that moment, so a killed process
(SIGKILL, the OOM killer, a crash) loses nothing written, and the page is written back to the file
afterwards. No system call per answer: a ``write`` would also hand the GIL to the usage writer's
thread on every call, and the event loop would wait for it to come back. There is no ``fsync`` per
call either: a power loss or kernel crash can still lose the rows of the last few seconds the kernel
had not yet written back. A segment's unused tail is zeros, which the replay ignores.
"""

from __future__ import annotations

import logging
import mmap
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from services.tables import UsageRecord

log = logging.getLogger(__name__)

JOURNAL_FOLDER = "usage-journal"  # in the data dir
SUFFIX = ".jsonl"
REPLAY_CHUNK = 500
SEGMENT_BYTES = 4 << 20  # a few thousand rows; a row that does not fit starts the next segment


class UsageJournal:
    """Append rows to the current segment; rotate; drop segments a committed batch covered."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.leftovers = sorted(folder.glob(f"*{SUFFIX}"))  # a previous process's segments, to replay
        self._number = max((int(path.stem) for path in self.leftovers if path.stem.isdigit()), default=0)
        self._segment: mmap.mmap | None = None
        self._used = 0
        self.rotate()

    def _path(self, number: int) -> Path:
        return self.folder / f"{number:08d}{SUFFIX}"

    def append(self, row: dict[str, Any]) -> None:
        line = orjson.dumps(row, default=str) + b"\n"
        if self._segment is None or self._used + len(line) > len(self._segment):
            self._open_next(len(line))  # closed at a stop and a row came after it, or this segment is full
        assert self._segment is not None
        self._segment[self._used : self._used + len(line)] = line
        self._used += len(line)

    def rotate(self) -> int:
        """Start a new segment for the rows queued from now on; returns the number of the one closed
        (every segment up to it holds only rows queued before this call)."""
        closed = self._number
        self._open_next(0)
        return closed

    def _open_next(self, needed: int) -> None:
        self._close_segment()
        self._number += 1
        size = max(SEGMENT_BYTES, needed)
        fd = os.open(self._path(self._number), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, size)
            self._segment = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)  # the mapping keeps the file
        self._used = 0

    def _close_segment(self) -> None:
        if self._segment is not None:
            self._segment.close()
            self._segment = None

    def drop_through(self, number: int) -> None:
        """Delete the segments up to ``number``: every row in them is committed."""
        for path in self.folder.glob(f"*{SUFFIX}"):
            if path.stem.isdigit() and int(path.stem) <= number:
                path.unlink(missing_ok=True)

    def clear(self) -> None:
        """Close the segment and delete them all: every row is committed (a clean stop)."""
        self._close_segment()
        self.drop_through(self._number)


def read_rows(paths: list[Path]) -> Iterator[dict[str, Any]]:
    """The rows of some segments; a line cut short by the kill (the last one) is skipped."""
    for path in paths:
        for line in path.read_bytes().rstrip(b"\0").splitlines():
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(row, dict) and isinstance(row.get("created_at"), str):
                row["created_at"] = datetime.fromisoformat(row["created_at"])
                yield row


def unrecorded(engine: Engine, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Those of ``rows`` whose request has no usage record yet."""
    ids = [row["request_id"] for row in rows]
    with Session(engine) as session:
        stored = set(session.exec(select(UsageRecord.request_id).where(col(UsageRecord.request_id).in_(ids))))
    return [row for row in rows if row["request_id"] not in stored]

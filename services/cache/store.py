"""Where cached answers live: an in-memory LRU in front of the ``cacheentry`` table.

A hot hit is answered from the LRU, with no database round trip. A miss costs none either: the keys
of every stored entry (with their expiry) are held in ``known``, loaded at start and kept current by
this process's writes, purges and evictions, so only a key that is known but fell out of the LRU is
read from the table (and then kept in the LRU again). Writes are queued and made in batches off the
request path (``ResponseCache.flush``).

Several instances sharing one database each know only the keys they stored or loaded at start: an
entry another instance stored since is a miss here (an upstream call, then a write over it) until the
next start. A shared hot tier (Redis, with the key index in it) would go behind ``AnswerStore``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Connection, Engine

from services.tables import CacheEntry
from services.usage.tables import core_table

CACHE_ENTRY = core_table(CacheEntry)
DEFAULT_MEMORY_BYTES = 64 * 1024 * 1024


@dataclass(slots=True)
class CachedAnswer:
    """One cached answer as replayed: ``content`` is the JSON answer (form ``json``), a chat stream's
    chunks (``chunks``: JSON texts, one a line, the
    last the usage chunk) or a dialect stream's framed events (``events``)."""

    key: str
    model: str
    endpoint: str
    form: str
    content: bytes
    created_at: float  # epoch seconds
    expires_at: float
    token_id: int | None = None
    user_id: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_micros: int | None = None
    context_key: str | None = None
    vector: bytes | None = None

    @property
    def size(self) -> int:
        return len(self.content)

    def row(self) -> dict[str, Any]:
        return {
            "key": self.key, "model": self.model, "endpoint": self.endpoint, "form": self.form, "token_id": self.token_id,
            "user_id": self.user_id, "content": self.content, "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens, "cost_micros": self.cost_micros, "size": self.size,
            "created_at": _moment(self.created_at), "expires_at": _moment(self.expires_at), "context_key": self.context_key,
            "vector": self.vector,
        }

    @classmethod
    def of_row(cls, row: Any) -> CachedAnswer:
        return cls(row.key, row.model, row.endpoint, row.form, row.content, _epoch(row.created_at), _epoch(row.expires_at),
                   row.token_id, row.user_id, row.prompt_tokens, row.completion_tokens, row.cost_micros,
                   row.context_key, row.vector)


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


class AnswerStore:
    """The LRU (bounded by bytes) and the index of every stored key; the table is read only for a key
    known here but no longer in memory."""

    def __init__(self, memory_bytes: int = DEFAULT_MEMORY_BYTES) -> None:
        self.memory_bytes = memory_bytes
        self._lru: OrderedDict[str, CachedAnswer] = OrderedDict()
        self._held = 0
        self.known: dict[str, float] = {}  # key → expires_at of every entry stored (here or in the table)

    def recent(self, key: str, now: float) -> CachedAnswer | None:
        """The entry if it is in memory and alive (and marked most recently used)."""
        answer = self._lru.get(key)
        if answer is None:
            return None
        if answer.expires_at <= now:
            self.forget([key])
            return None
        self._lru.move_to_end(key)
        return answer

    def stored(self, key: str, now: float) -> bool:
        """Whether the table should hold a live entry under the key (worth a read)."""
        expires = self.known.get(key)
        return expires is not None and expires > now

    def keep(self, answer: CachedAnswer) -> None:
        old = self._lru.pop(answer.key, None)
        if old is not None:
            self._held -= old.size
        self._lru[answer.key] = answer
        self._held += answer.size
        self.known[answer.key] = answer.expires_at
        while self._held > self.memory_bytes and len(self._lru) > 1:
            _, dropped = self._lru.popitem(last=False)
            self._held -= dropped.size

    def forget(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.known.pop(key, None)
            answer = self._lru.pop(key, None)
            if answer is not None:
                self._held -= answer.size

    def in_memory(self) -> list[CachedAnswer]:
        return list(self._lru.values())

    def clear(self) -> None:
        self._lru.clear()
        self.known.clear()
        self._held = 0


# -- the table ---------------------------------------------------------------------------------


def load_index(engine: Engine, now: float) -> dict[str, float]:
    """Every live entry's key and expiry, for ``AnswerStore.known`` at start."""
    with engine.connect() as connection:
        rows = connection.execute(select(CACHE_ENTRY.c.key, CACHE_ENTRY.c.expires_at).where(CACHE_ENTRY.c.expires_at > _moment(now)))
        return {key: _epoch(expires) for key, expires in rows}


def load_vectors(engine: Engine, now: float) -> list[CachedAnswer]:
    """The live entries that carry a vector, without their content, for the semantic index at start."""
    columns = [c for c in CACHE_ENTRY.c if c.name != "content"]
    with engine.connect() as connection:
        rows = connection.execute(select(*columns).where(CACHE_ENTRY.c.vector.is_not(None), CACHE_ENTRY.c.expires_at > _moment(now)))
        return [CachedAnswer(r.key, r.model, r.endpoint, r.form, b"", _epoch(r.created_at), _epoch(r.expires_at), r.token_id,
                             r.user_id, r.prompt_tokens, r.completion_tokens, r.cost_micros, r.context_key, r.vector)
                for r in rows]


def read_entry(engine: Engine, key: str) -> CachedAnswer | None:
    with engine.connect() as connection:
        row = connection.execute(select(CACHE_ENTRY).where(CACHE_ENTRY.c.key == key)).first()
    return CachedAnswer.of_row(row) if row is not None else None


def write_entries(engine: Engine, answers: list[CachedAnswer]) -> None:
    """Store answers, each replacing any entry under its key."""
    latest = {answer.key: answer for answer in answers}
    with engine.begin() as connection:
        connection.execute(delete(CACHE_ENTRY).where(CACHE_ENTRY.c.key.in_(list(latest))))
        connection.execute(insert(CACHE_ENTRY), [answer.row() for answer in latest.values()])


def delete_entries(engine: Engine, *, model: str | None = None, token_id: int | None = None) -> list[str]:
    """Delete the entries of a model, of a token, or (neither given) all; their keys."""
    where = []
    if model is not None:
        where.append(CACHE_ENTRY.c.model == model)
    if token_id is not None:
        where.append(CACHE_ENTRY.c.token_id == token_id)
    with engine.begin() as connection:
        keys = [key for (key,) in connection.execute(select(CACHE_ENTRY.c.key).where(*where))]
        connection.execute(delete(CACHE_ENTRY).where(*where))
    return keys


def evict_entries(engine: Engine, now: float, limits: dict[str, tuple[int | None, int | None]]) -> list[str]:
    """Delete expired entries, then each model's oldest beyond its ``(max_entries, max_bytes)``; the keys deleted."""
    with engine.begin() as connection:
        expired = CACHE_ENTRY.c.expires_at <= _moment(now)
        keys = [key for (key,) in connection.execute(select(CACHE_ENTRY.c.key).where(expired))]
        connection.execute(delete(CACHE_ENTRY).where(expired))
        for model, (max_entries, max_bytes) in limits.items():
            keys += _evict_oldest(connection, model, max_entries, max_bytes)
    return keys


def _evict_oldest(connection: Connection, model: str, max_entries: int | None, max_bytes: int | None) -> list[str]:
    """A model's oldest entries beyond its limits, deleted."""
    if max_entries is None and max_bytes is None:
        return []
    count, total = connection.execute(
        select(func.count(), func.coalesce(func.sum(CACHE_ENTRY.c.size), 0)).where(CACHE_ENTRY.c.model == model)).one()
    if (max_entries is None or count <= max_entries) and (max_bytes is None or total <= max_bytes):
        return []
    rows = connection.execute(select(CACHE_ENTRY.c.key, CACHE_ENTRY.c.size).where(CACHE_ENTRY.c.model == model)
                              .order_by(CACHE_ENTRY.c.created_at, CACHE_ENTRY.c.id))
    doomed = []
    for key, size in rows:
        if (max_entries is None or count <= max_entries) and (max_bytes is None or total <= max_bytes):
            break
        doomed.append(key)
        count, total = count - 1, total - size
    connection.execute(delete(CACHE_ENTRY).where(CACHE_ENTRY.c.key.in_(doomed)))
    return doomed

"""The semantic cache: a stored answer found by a question that is near enough, in the same conversation.

A conversation's key is split (``keys.context_key``): everything but its last user turn must match
exactly (and the scope is in it), so only questions asked in the same context, by someone allowed to
see the answer, are compared at all. Within a context the stored questions' embeddings are rows of
one normalized float32 matrix (``VectorBucket``); a lookup is one matrix-vector product and an
argmax, and a hit needs cosine similarity ≥ the model's threshold.

Questions are embedded by a model behind this hub that the admin names (``embedding_model``): any
embedding route, called through the gateway like a client's call (metered under the master key, so
a token limited to chat models still gets its semantic hits). Vectors are stored with their entries
(``cacheentry.vector``) and loaded into memory at start.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.accounts.tokens import Principal
from services.errors import GatewayError
from services.gateway.calls import Gateway

log = logging.getLogger(__name__)
Vector = npt.NDArray[np.float32]
EMBEDDING_CALLER = Principal(user_id=None, role="admin")
"""Who the question embeddings are metered to: the hub itself (the master key's rows)."""
FIRST_CAPACITY = 16
SKETCHED_FROM = 8192
SKETCH_DIMENSIONS = 64
SKETCH_CANDIDATES = 64


def normalized(values: object) -> Vector | None:
    """A unit-length float32 vector, or None for a zero (or empty) one, which is similar to nothing."""
    vector = np.asarray(values, dtype=np.float32).ravel()
    norm = float(np.linalg.norm(vector))
    return vector / norm if vector.size and norm > 0 else None


class VectorBucket:
    """The questions stored in one context: their unit vectors as rows of a matrix that grows by doubling.

    A lookup is memory-bound (every stored float is read once), so a bucket past ``SKETCHED_FROM`` rows
    is searched in two steps: a random projection of every row to ``SKETCH_DIMENSIONS`` (a sixth of the
    bytes of a MiniLM-sized vector) ranks the rows, and the ``SKETCH_CANDIDATES`` best are scored exactly.
    A projection keeps cosine similarity to within about 1/√64 for each row, so a question near enough
    to pass a threshold of 0.9 lands among the candidates unless dozens of others rank as high.
    """

    def __init__(self, dimensions: int) -> None:
        self.keys: list[str] = []
        self.matrix: Vector = np.zeros((FIRST_CAPACITY, dimensions), dtype=np.float32)
        self.projection: Vector = np.random.default_rng(dimensions).standard_normal((dimensions, SKETCH_DIMENSIONS), dtype=np.float32)
        self.sketches: Vector = np.zeros((FIRST_CAPACITY, SKETCH_DIMENSIONS), dtype=np.float32)

    def add(self, key: str, vector: Vector) -> None:
        if len(self.keys) == len(self.matrix):
            self.matrix = np.concatenate([self.matrix, np.zeros_like(self.matrix)])
            self.sketches = np.concatenate([self.sketches, np.zeros_like(self.sketches)])
        self.matrix[len(self.keys)] = vector
        self.sketches[len(self.keys)] = vector @ self.projection
        self.keys.append(key)

    def nearest(self, vector: Vector) -> tuple[str, float] | None:
        count = len(self.keys)
        if not count or vector.shape[0] != self.matrix.shape[1]:
            return None
        if count < SKETCHED_FROM:
            scores = self.matrix[:count] @ vector
            best = int(np.argmax(scores))
            return self.keys[best], float(scores[best])
        rough = self.sketches[:count] @ (vector @ self.projection)
        candidates = np.argpartition(rough, -SKETCH_CANDIDATES)[-SKETCH_CANDIDATES:]
        scores = self.matrix[candidates] @ vector
        best = int(np.argmax(scores))
        return self.keys[int(candidates[best])], float(scores[best])

    def remove(self, doomed: set[str]) -> None:
        kept = [index for index, key in enumerate(self.keys) if key not in doomed]
        self.keys = [self.keys[index] for index in kept]
        capacity = max(FIRST_CAPACITY, len(kept) * 2)
        self.matrix = _resized(self.matrix[kept], capacity)
        self.sketches = _resized(self.sketches[kept], capacity)


def _resized(rows: Vector, capacity: int) -> Vector:
    grown = np.zeros((capacity, rows.shape[1]), dtype=np.float32)
    grown[: len(rows)] = rows
    return grown


@dataclass(slots=True)
class Question:
    """A call's last user turn, placed: its context and its embedding (None when it could not be embedded)."""

    context: str
    vector: Vector | None


class SemanticIndex:
    """Every context's bucket, and which context each entry's vector sits in (to forget it)."""

    def __init__(self) -> None:
        self._buckets: dict[str, VectorBucket] = {}
        self._context_of: dict[str, str] = {}

    def add(self, context: str, key: str, vector: Vector) -> None:
        if key in self._context_of:
            self.forget([key])
        bucket = self._buckets.get(context)
        if bucket is None or bucket.matrix.shape[1] != vector.shape[0]:
            bucket = self._buckets[context] = VectorBucket(vector.shape[0])
        bucket.add(key, vector)
        self._context_of[key] = context

    def nearest(self, context: str, vector: Vector, threshold: float) -> str | None:
        """The key of the most similar stored question in the context, if it is similar enough."""
        bucket = self._buckets.get(context)
        found = bucket.nearest(vector) if bucket is not None else None
        return found[0] if found is not None and found[1] >= threshold else None

    def forget(self, keys: list[str]) -> None:
        by_context: dict[str, set[str]] = {}
        for key in keys:
            context = self._context_of.pop(key, None)
            if context is not None:
                by_context.setdefault(context, set()).add(key)
        for context, doomed in by_context.items():
            bucket = self._buckets[context]
            bucket.remove(doomed)
            if not bucket.keys:
                del self._buckets[context]

    def clear(self) -> None:
        self._buckets.clear()
        self._context_of.clear()


async def embed_question(gateway: Gateway, model: str, text: str) -> Vector | None:
    """The question's unit embedding from the hub's model ``model``; None when that call fails (the call
    then goes on without the semantic cache: a broken embedding route must not break chat)."""
    try:
        answer, _meta = await gateway.embed(EMBEDDING_CALLER, {"model": model, "input": text})
        return normalized(answer["data"][0]["embedding"])
    except (GatewayError, KeyError, IndexError, TypeError, ValueError) as error:
        log.warning("semantic cache: the question could not be embedded with %s: %s", model, error)
        return None

"""Key, deployment and circuit state shared between instances.

The local ``KeyStateStore`` stays the request path's only source: no call waits on Redis. What an
instance decides about an entry (a 429 cools a deployment, a run of failures rests it or opens a
provider's circuit, a 401 marks a key invalid, an admin cools or resets a key) lands in the store's
``outbox``; ``StateSync.flush`` (every ``FLUSH_SECONDS``) writes those entries to one Redis hash and
announces them on the cluster feed, and every other instance copies them into its own store. A new
instance reads the hash at start. So a cooldown opened on one instance is seen by the others within
``FLUSH_SECONDS`` plus a pub/sub hop.

An entry travels whole (its timed fields and failure counts) and the last writer wins: two instances
cooling one deployment at once both end up with one of the two cooldowns, both in the future.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis

from services.cluster.link import ClusterLink
from services.gateway.health import SkipReason
from services.gateway.key_state import KeyStateStore, SharedEntry

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.05
STATE_FEED = "state"

Fields = dict[str, Any]


def entry_fields(store: KeyStateStore, entry: SharedEntry) -> Fields:
    """What other instances must know of one entry, as JSON-ready fields."""
    kind, ident = entry
    if kind == "key":
        assert isinstance(ident, int)
        health = store.health(ident)
        return {"cooldown_until": health.cooldown_until, "disabled_reason": health.disabled_reason,
                "exhausted_until": health.exhausted_until, "last_error": health.last_error, "last_error_at": health.last_error_at}
    if kind == "deployment":
        assert isinstance(ident, tuple)
        served = store.deployment(ident)
        return {"cooldown_until": served.cooldown_until, "resting_until": served.resting_until,
                "consecutive_failures": served.consecutive_failures, "last_error": served.last_error,
                "last_error_at": served.last_error_at}
    assert isinstance(ident, int)
    circuit = store.circuit(ident)
    return {"consecutive_failures": circuit.consecutive_failures, "open_until": circuit.open_until}


def apply_fields(store: KeyStateStore, entry: SharedEntry, fields: Fields) -> None:
    """Copy another instance's entry into this store: marked for the database mirror, not shared back."""
    kind, ident = entry
    if kind == "key":
        assert isinstance(ident, int)
        health = store.health(ident)
        health.cooldown_until = float(fields["cooldown_until"])
        health.disabled_reason = SkipReason(fields["disabled_reason"]) if fields["disabled_reason"] else None
        health.exhausted_until = fields["exhausted_until"]
        health.last_error, health.last_error_at = fields["last_error"], fields["last_error_at"]
        store.dirty_keys.add(ident)
    elif kind == "deployment":
        assert isinstance(ident, tuple)
        served = store.deployment(ident)
        served.cooldown_until, served.resting_until = float(fields["cooldown_until"]), float(fields["resting_until"])
        served.consecutive_failures = int(fields["consecutive_failures"])
        served.last_error, served.last_error_at = fields["last_error"], fields["last_error_at"]
        store.dirty_deployments.add(ident)
    elif kind == "circuit":
        assert isinstance(ident, int)
        circuit = store.circuit(ident)
        circuit.consecutive_failures, circuit.open_until = int(fields["consecutive_failures"]), float(fields["open_until"])
        store.dirty_circuits.add(ident)


def encode_entry(entry: SharedEntry) -> str:
    kind, ident = entry
    return json.dumps([kind, list(ident) if isinstance(ident, tuple) else ident])


def decode_entry(field: str | bytes) -> SharedEntry:
    kind, ident = json.loads(field)
    return (kind, (int(ident[0]), str(ident[1]))) if isinstance(ident, list) else (kind, int(ident))


class StateSync:
    """Moves a store's outbox to Redis and the feed, and other instances' entries into the store."""

    def __init__(self, link: ClusterLink, store: KeyStateStore) -> None:
        self.link = link
        self.store = store
        self.hash = link.key("state")
        store.outbox = set()

    def load(self) -> int:
        """At start (blocking): every entry any instance shared so far."""
        entries = self.link.sync.hgetall(self.hash)
        for field, value in entries.items():
            self._apply_one(field, value)
        return len(entries)

    def apply(self, encoded: dict[str, Fields]) -> None:
        """Entries announced on the feed by another instance."""
        for field, fields in encoded.items():
            apply_fields(self.store, decode_entry(field), fields)

    def _apply_one(self, field: bytes | str, value: bytes | str) -> None:
        try:
            apply_fields(self.store, decode_entry(field), json.loads(value))
        except (ValueError, KeyError, TypeError):
            log.warning("shared key state: an unreadable entry %r skipped", field)

    async def flush(self) -> None:
        """Write and announce what this instance decided since the last flush."""
        outbox = self.store.outbox
        if not outbox:
            return
        self.store.outbox = set()
        encoded = {encode_entry(entry): entry_fields(self.store, entry) for entry in outbox}
        message = json.dumps({"from": self.link.instance, "kind": STATE_FEED, "data": encoded})
        try:
            async with self.link.aio.pipeline(transaction=False) as pipe:
                pipe.hset(self.hash, mapping={field: json.dumps(fields) for field, fields in encoded.items()})
                pipe.publish(self.link.feed_channel, message)
                await pipe.execute()
        except redis.RedisError as exc:
            assert self.store.outbox is not None
            self.store.outbox |= outbox  # shared at the next flush
            log.warning("shared key state: not written to Redis (%s); retrying", exc)

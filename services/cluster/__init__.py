"""Several hub instances acting as one, through one Redis (``LLMHUB_REDIS_URL``).

``Cluster`` is all a hub needs: ``state`` shares key, deployment and circuit decisions
(``state_sync``), ``counters`` holds token rpm windows and budget spend (``counters``), ``feed``
carries change notifications (``feed``), and ``run_once`` lets one instance per period run a
scheduled job. Without a Redis URL there is no ``Cluster`` and everything stays in the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import redis

from services.cluster.counters import SharedCounters
from services.cluster.feed import ClusterFeed
from services.cluster.link import ClusterLink
from services.cluster.state_sync import FLUSH_SECONDS, STATE_FEED, StateSync
from services.gateway.key_state import KeyStateStore

__all__ = ["Cluster"]

log = logging.getLogger(__name__)


class Cluster:
    def __init__(self, url: str, prefix: str, states: KeyStateStore) -> None:
        """Connect and read the shared key state (blocking: called while the hub is built)."""
        self.link = ClusterLink(url, prefix)
        self.link.check()
        self.state = StateSync(self.link, states)
        self.state.load()
        self.counters = SharedCounters(self.link)
        self.feed = ClusterFeed(self.link, on_connect=self.state.load)
        self.feed.on(STATE_FEED, self.state.apply)
        self._flusher: asyncio.Task[None] | None = None

    @property
    def instance(self) -> str:
        return self.link.instance

    async def start(self) -> None:
        self.feed.start()
        self._flusher = asyncio.get_running_loop().create_task(self._flush_forever(), name="cluster-state-flush")

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await self.state.flush()

    async def run_once(self, job: str, period_seconds: float) -> bool:
        """Whether this instance runs ``job``'s current period: the first instance to ask for the period's
        lock gets it (SET NX with an expiry), so a job runs once per period in the cluster, and an instance
        killed while holding it does not stop the job beyond the period. Without Redis: run it here."""
        period = int(time.time() // period_seconds)
        try:
            taken = await self.link.aio.set(self.link.key("job", job, period), self.instance, nx=True, ex=max(1, int(period_seconds * 2)))
        except redis.RedisError as exc:
            log.warning("cluster: lock for %s not taken (%s); running it here", job, exc)
            return True
        return bool(taken)

    def put_once(self, name: str, value: str, seconds: float) -> None:
        """A value any instance may take once within ``seconds`` (blocking: a sign-in ticket, rare)."""
        self.link.sync.set(self.link.key("once", name), value, px=int(seconds * 1000))

    async def take_once(self, name: str) -> str | None:
        """The value put under ``name``, removed as it is read (None: never put, taken, or expired)."""
        value = await self.link.aio.getdel(self.link.key("once", name))
        return value.decode() if isinstance(value, bytes) else value

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.state.flush()
        await self.counters.drain()
        await self.feed.stop()
        await self.link.close()


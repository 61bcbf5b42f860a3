"""The cluster's change feed: one Redis pub/sub channel every instance listens on.

A message is ``{"from": instance, "kind": ..., "data": ...}``; each kind has one handler (routing:
reload the routing snapshot; tokens: forget cached token lookups; state: copy shared key state;
throttle: a failed sign-in elsewhere). An instance skips its own messages. Pub/sub keeps nothing for
an instance that was not listening, so after (re)connecting the listener calls ``on_connect``, which
re-reads what can have been missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

import redis

from services.cluster.link import ClusterLink

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0

Handler = Callable[[Any], None]


class ClusterFeed:
    def __init__(self, link: ClusterLink, on_connect: Callable[[], object] = lambda: None) -> None:
        self.link = link
        self.handlers: dict[str, Handler] = {}
        self.on_connect = on_connect
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def on(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    def announce(self, kind: str, data: Any = None) -> None:
        """Tell the other instances (blocking, from any thread: changes announced are an admin's, rare)."""
        try:
            self.link.sync.publish(self.link.feed_channel, json.dumps({"from": self.link.instance, "kind": kind, "data": data}))
        except redis.RedisError as exc:
            log.warning("cluster feed: %s not announced (%s)", kind, exc)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._listen_forever(), name="cluster-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen_forever(self) -> None:
        while True:
            try:
                await self._listen()
            except (redis.RedisError, OSError) as exc:
                self.connected.clear()
                log.warning("cluster feed: lost Redis (%s); reconnecting", exc)
                await asyncio.sleep(RECONNECT_SECONDS)

    async def _listen(self) -> None:
        async with self.link.aio.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(self.link.feed_channel)
            self.on_connect()
            self.connected.set()
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    self.dispatch(message["data"])

    def dispatch(self, raw: bytes | str) -> None:
        try:
            message = json.loads(raw)
            kind, sender = message["kind"], message["from"]
        except (ValueError, KeyError, TypeError):
            log.warning("cluster feed: an unreadable message skipped")
            return
        handler = self.handlers.get(kind)
        if sender == self.link.instance or handler is None:
            return
        try:
            handler(message.get("data"))
        except Exception:  # one bad message must not stop the listener
            log.exception("cluster feed: handling %s failed", kind)

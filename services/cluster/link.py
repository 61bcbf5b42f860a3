"""The connection to the Redis server several hub instances share (``LLMHUB_REDIS_URL``).

One ``ClusterLink`` per process: an asyncio client for everything on the event loop, a blocking
client for the few reads made while the hub is built (before the loop runs), the key prefix that
keeps this cluster's keys apart from anything else in the same Redis database, and this instance's
id (so an instance can ignore its own messages on the feed).
"""

from __future__ import annotations

import secrets

import redis
import redis.asyncio as aioredis

from services.errors import StartupError

SOCKET_TIMEOUT = 2.0  # seconds: a Redis that stops answering fails a call instead of hanging it


class ClusterLink:
    def __init__(self, url: str, prefix: str = "llmhub:") -> None:
        self.prefix = prefix
        self.instance = secrets.token_hex(6)
        self.sync = redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT)
        self.aio = aioredis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT)
        self._url_for_messages = _without_password(url)

    def key(self, *parts: object) -> str:
        """A Redis key in this cluster's namespace."""
        return self.prefix + ":".join(str(part) for part in parts)

    @property
    def feed_channel(self) -> str:
        return self.key("feed")

    def check(self) -> None:
        """At start: Redis answers, or the process refuses to start saying which server it tried."""
        try:
            self.sync.ping()
        except redis.RedisError as exc:
            raise StartupError(f"LLMHUB_REDIS_URL: cannot reach Redis at {self._url_for_messages}: {exc}") from None

    async def close(self) -> None:
        await self.aio.aclose()
        self.sync.close()


def _without_password(url: str) -> str:
    """The URL as it may be shown in a message: any password replaced."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user + ':***' if ':' in credentials else user}@{host}"

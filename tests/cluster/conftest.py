"""A Redis of the tests' own for the cluster tests: the real server at 127.0.0.1:6379 (or
``LLMHUB_TEST_REDIS_URL``), a key prefix per test, every key under it deleted afterwards. Without a
Redis the tests skip, saying so; under ``CI=true`` (where Redis runs) they fail instead."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import redis

TEST_REDIS_URL = os.environ.get("LLMHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class RedisUnderTest:
    url: str
    prefix: str
    client: redis.Redis

    def stored_keys(self) -> list[bytes]:
        return list(self.client.scan_iter(match=self.prefix + "*"))


def _reachable(client: redis.Redis) -> str | None:
    try:
        client.ping()
    except redis.RedisError as exc:
        return str(exc)
    return None


@pytest.fixture
def test_redis() -> Iterator[RedisUnderTest]:
    with redis_for_a_test() as found:
        yield found


@contextmanager
def redis_for_a_test() -> Iterator[RedisUnderTest]:
    """The test Redis under a fresh prefix, emptied of it afterwards; skips (fails under CI) without one."""
    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=1)
    problem = _reachable(client)
    if problem is not None:
        message = f"Redis at {TEST_REDIS_URL} is not reachable ({problem})"
        if os.environ.get("CI") == "true":
            pytest.fail(message + ": CI runs Redis, so this test must not skip")
        pytest.skip(message)
    found = RedisUnderTest(TEST_REDIS_URL, f"llmhub-test-{secrets.token_hex(4)}:", client)
    try:
        yield found
    finally:
        for key in found.stored_keys():
            client.delete(key)
        client.close()

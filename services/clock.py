"""Time sources. The router and key state take a ``Clock`` so tests can move time by hand."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Protocol

DAY_SECONDS = 86_400.0  # a UTC day (epoch time has no leap seconds)


def day_and_month(epoch: float) -> tuple[str, str]:
    """The UTC day and month of ``epoch`` as names (every call asks; each day is worked out once)."""
    return _names_of_day(int(epoch // DAY_SECONDS))


@lru_cache(maxsize=4)
def _names_of_day(day: int) -> tuple[str, str]:
    moment = datetime.fromtimestamp(day * DAY_SECONDS, UTC)
    return moment.strftime("%Y-%m-%d"), moment.strftime("%Y-%m")


def utcnow() -> datetime:
    """Aware UTC now. SQLModel's UTCDateTime stores every datetime in UTC and hands it back aware."""
    return datetime.now(UTC)


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def to_datetime(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def to_epoch(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()

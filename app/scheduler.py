"""APScheduler jobs: clear expired cooldowns, mirror key state to the database, prune raw usage, evict cache entries, check alerts.

With several instances (``LLMHUB_REDIS_URL``) the jobs that write shared state (the mirror, retention,
cache eviction, alerts) run once per period in the cluster: every instance schedules them, and the first to take the
period's lock (``Cluster.run_once``) runs it. An instance killed while holding one costs that period
only. Clearing expired cooldowns tidies this process's memory, so every instance does it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from services.hub import Hub
from services.usage.alerts import run_alert_check
from services.usage.retention import prune_raw_usage

log = logging.getLogger(__name__)
ALERT_CHECK_SECONDS = 20
MIRROR_SECONDS = 2
PRUNE_SECONDS = 3600
CACHE_EVICTION_SECONDS = 60


async def clear_expired_cooldowns(hub: Hub) -> None:
    """A coroutine, so APScheduler runs it on the event loop, never beside it in a thread."""
    hub.states.clear_expired()


async def prune_usage(hub: Hub) -> None:
    """Delete raw usage records past the retention period (in batches, in a worker thread)."""
    removed = await asyncio.to_thread(prune_raw_usage, hub.engine, datetime.now(UTC))
    if removed:
        log.info("retention: %d raw usage records pruned", removed)


async def evict_cache(hub: Hub) -> None:
    """Delete response cache entries past their TTL, and each model's oldest beyond its size limits."""
    removed = await hub.cache.evict()
    if removed:
        log.info("response cache: %d entries evicted", removed)


async def check_alerts(hub: Hub) -> None:
    await run_alert_check(hub.engine, hub.client)


def once_per_cluster(hub: Hub, name: str, period_seconds: float, job: Callable[[Hub], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """``job``, run by one instance per period when the hub is one of several, else always."""
    async def run() -> None:
        if hub.cluster is None or await hub.cluster.run_once(name, period_seconds):
            await job(hub)

    return run


async def mirror_states(hub: Hub) -> None:
    await hub.mirror_states()


def start_scheduler(hub: Hub) -> AsyncIOScheduler:
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(clear_expired_cooldowns, "interval", seconds=5, args=[hub], id="clear-expired-cooldowns")
    scheduler.add_job(once_per_cluster(hub, "mirror-key-state", MIRROR_SECONDS, mirror_states), "interval", seconds=MIRROR_SECONDS,
                      id="mirror-key-state")
    scheduler.add_job(once_per_cluster(hub, "prune-usage", PRUNE_SECONDS, prune_usage), "interval", seconds=PRUNE_SECONDS,
                      id="prune-usage", next_run_time=datetime.now(UTC) + timedelta(minutes=1))
    scheduler.add_job(once_per_cluster(hub, "evict-cache", CACHE_EVICTION_SECONDS, evict_cache), "interval",
                      seconds=CACHE_EVICTION_SECONDS, id="evict-cache")
    scheduler.add_job(once_per_cluster(hub, "check-alerts", ALERT_CHECK_SECONDS, check_alerts), "interval", seconds=ALERT_CHECK_SECONDS,
                      id="check-alerts")
    scheduler.start()
    return scheduler

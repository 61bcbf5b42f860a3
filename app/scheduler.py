"""APScheduler jobs: clear expired cooldowns, mirror key state to the database, prune raw usage, evict cache entries, check alerts."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from services.hub import Hub
from services.usage.alerts import run_alert_check
from services.usage.retention import prune_raw_usage

log = logging.getLogger(__name__)
ALERT_CHECK_SECONDS = 20
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


def start_scheduler(hub: Hub) -> AsyncIOScheduler:
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(clear_expired_cooldowns, "interval", seconds=5, args=[hub], id="clear-expired-cooldowns")
    scheduler.add_job(hub.mirror_states, "interval", seconds=2, id="mirror-key-state")
    scheduler.add_job(
        prune_usage, "interval", hours=1, args=[hub], id="prune-usage", next_run_time=datetime.now(UTC) + timedelta(minutes=1)
    )
    scheduler.add_job(evict_cache, "interval", seconds=CACHE_EVICTION_SECONDS, args=[hub], id="evict-cache")
    scheduler.add_job(check_alerts, "interval", seconds=ALERT_CHECK_SECONDS, args=[hub], id="check-alerts")
    scheduler.start()
    return scheduler

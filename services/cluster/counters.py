"""Token rpm windows and budget spend held in Redis, atomic across instances (Lua scripts).

Only callers with an rpm limit or a budget come here (``TokenRegistry.admit_call``); the rest pay
no round trip. Times are Redis's own clock (``TIME``), so instances on machines whose clocks differ
still count one window.

- **rpm**: a sorted set per token of the last minute's admissions; a call is admitted only while it
  holds fewer than the limit. Exact across instances (one script, one server).
- **budgets**: a hash per holder and UTC month (``spent``, ``reserved``) and a sorted set of the
  holds in flight, each with an expiry. A call is admitted only while spent + reserved is under the
  budget of every holder, and then reserves its worst case on all of them at once, so concurrent calls
  on any number of instances overshoot a budget by at most one call. ``spent`` starts from the
  database's month spend (the first instance to use the month's key seeds it). A hold whose instance
  was killed expires after ``HOLD_SECONDS`` instead of blocking the budget for the month.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis

from services.accounts.tokens import NO_HOLD, Hold, MonthSpend, Refusal
from services.clock import day_and_month
from services.cluster.link import ClusterLink
from services.errors import ClusterUnavailable
from services.gateway.routing_table import Limits

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
HOLD_SECONDS = 900  # longer than any call may take (its retries and stream included)
MONTH_KEY_SECONDS = 40 * 24 * 3600
DAY_KEY_SECONDS = 2 * 24 * 3600

# The sliding-log rpm window both scripts below keep (a sorted set of the last minute's admissions).
RPM_WINDOW = """
local function rpm_wait(key, rpm, window, now)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) < rpm then return nil end
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return tostring(tonumber(oldest[2]) + window - now)
end
local function rpm_take(key, window, now, entry)
  redis.call('ZADD', key, now, entry)
  redis.call('EXPIRE', key, window + 1)
end
"""

# One round trip per admitted call: the token's rpm window (KEYS[1], when ARGV[1] > 0), then every budget
# holder's hash and holds' set (KEYS[2], KEYS[3], …). ARGV: rpm limit (0: none), window seconds, the hold's
# id, micros, hold seconds, key seconds, then per holder its budget and its seed spend. Answers {0} when
# admitted, {1, seconds until a slot frees} over the rpm, {2, holder number} over a budget.
ADMIT = RPM_WINDOW + """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rpm, window = tonumber(ARGV[1]), tonumber(ARGV[2])
if rpm > 0 then
  local wait = rpm_wait(KEYS[1], rpm, window, now)
  if wait then return {1, wait} end
  rpm_take(KEYS[1], window, now, ARGV[3])
end
local count = (#KEYS - 1) / 2
for i = 1, count do
  local spend, holds = KEYS[2 * i], KEYS[2 * i + 1]
  for _, stale in ipairs(redis.call('ZRANGEBYSCORE', holds, '-inf', now)) do
    redis.call('HINCRBY', spend, 'reserved', -tonumber(string.match(stale, ':(%d+)$')))
  end
  redis.call('ZREMRANGEBYSCORE', holds, '-inf', now)
  redis.call('HSETNX', spend, 'spent', ARGV[6 + 2 * i])
  local used = tonumber(redis.call('HGET', spend, 'spent')) + tonumber(redis.call('HGET', spend, 'reserved') or '0')
  if used >= tonumber(ARGV[5 + 2 * i]) then return {2, i} end
end
for i = 1, count do
  local spend, holds = KEYS[2 * i], KEYS[2 * i + 1]
  redis.call('HINCRBY', spend, 'reserved', ARGV[4])
  redis.call('ZADD', holds, now + tonumber(ARGV[5]), ARGV[3])
  redis.call('EXPIRE', spend, ARGV[6])
  redis.call('EXPIRE', holds, ARGV[6])
end
return {0}
"""

# A key's (or a route's, per key) windows: KEYS rpm set, tpm hash (second → tokens), the UTC day's token counter, the
# UTC month's spend; ARGV rpm, tpm, daily tokens (0: none), the prompt estimate to hold in the minute, the
# rpm entry's id, the window's seconds, the monthly limit in micro-dollars (0: none). Answers {0} when the
# call may go (and counts it), {1, wait} over the rpm, {2, wait} over the tpm, {3} over the day's tokens,
# {4} over the month's spend.
SLOT = RPM_WINDOW + """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local second = tonumber(t[1])
local rpm, tpm, daily, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[6])
if rpm > 0 then
  local wait = rpm_wait(KEYS[1], rpm, window, now)
  if wait then return {1, wait} end
end
if tpm > 0 then
  local total, oldest = 0, nil
  local buckets = redis.call('HGETALL', KEYS[2])
  for i = 1, #buckets, 2 do
    local at = tonumber(buckets[i])
    if at <= second - window then
      redis.call('HDEL', KEYS[2], buckets[i])
    else
      total = total + tonumber(buckets[i + 1])
      if oldest == nil or at < oldest then oldest = at end
    end
  end
  if total >= tpm then return {2, tostring(oldest + window - now)} end
end
if daily > 0 and tonumber(redis.call('GET', KEYS[3]) or '0') >= daily then return {3} end
local monthly = tonumber(ARGV[7])
if monthly > 0 and tonumber(redis.call('GET', KEYS[4]) or '0') >= monthly then return {4} end
if rpm > 0 then rpm_take(KEYS[1], window, now, ARGV[5]) end
if tpm > 0 and tonumber(ARGV[4]) > 0 then
  redis.call('HINCRBY', KEYS[2], second, ARGV[4])
  redis.call('EXPIRE', KEYS[2], window + 1)
end
return {0}
"""

# A metered call through a key or route: KEYS the tpm hash, the day's counter, the month's spend; ARGV the minute's
# tokens (0: no tpm), the day's tokens (0: no daily limit), the window's seconds, the day key's seconds,
# the cost in micro-dollars (0: no monthly limit), the month key's seconds.
USAGE = """
local second = tonumber(redis.call('TIME')[1])
if tonumber(ARGV[1]) > 0 then
  redis.call('HINCRBY', KEYS[1], second, ARGV[1])
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]) + 1)
end
if tonumber(ARGV[2]) > 0 then
  redis.call('INCRBY', KEYS[2], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
if tonumber(ARGV[5]) > 0 then
  redis.call('INCRBY', KEYS[3], ARGV[5])
  redis.call('EXPIRE', KEYS[3], ARGV[6])
end
return 0
"""

SETTLE = """
for i = 1, #KEYS / 2 do
  local spend, holds = KEYS[2 * i - 1], KEYS[2 * i]
  if redis.call('ZREM', holds, ARGV[1]) == 1 then redis.call('HINCRBY', spend, 'reserved', -tonumber(ARGV[2])) end
  if redis.call('HEXISTS', spend, 'spent') == 1 then redis.call('HINCRBY', spend, 'spent', ARGV[3]) end
end
return 0
"""


class SharedCounters:
    """``services.accounts.tokens.SharedLimits`` on Redis."""

    def __init__(self, link: ClusterLink) -> None:
        self.link = link
        self._admit = link.aio.register_script(ADMIT)
        self._settle = link.aio.register_script(SETTLE)
        self._slot = link.aio.register_script(SLOT)
        self._usage = link.aio.register_script(USAGE)
        self._serial = itertools.count()
        self._settling: set[asyncio.Task[Any]] = set()

    async def admit(self, rate: tuple[str, int] | None, holders: dict[str, MonthSpend], month: str,
                    worst_case_micros: Callable[[], int]) -> Hold | Refusal:
        names = list(holders)
        micros = worst_case_micros() if holders else 0
        hold_id = f"{self.link.instance}:{next(self._serial)}:{micros}"
        budgets = [value for spend in holders.values() for value in (spend.budget_micros or 0, spend.spent_micros)]
        rate_key, rpm = rate or ("none", 0)
        keys = [self.link.key("rpm", rate_key), *self._budget_keys(names, month)]
        try:
            answer = await self._admit(keys=keys, args=[rpm, WINDOW_SECONDS, hold_id, micros, HOLD_SECONDS, MONTH_KEY_SECONDS, *budgets])
        except redis.RedisError as exc:
            raise ClusterUnavailable(f"limits not shared: {exc}") from None
        if answer[0] == 1:
            return Refusal(None, float(answer[1]))
        if answer[0] == 2:
            return Refusal(names[int(answer[1]) - 1])
        return Hold(micros=micros, shared_id=hold_id, names=tuple(names)) if holders else NO_HOLD

    def _windows(self, window: str) -> list[str]:
        day, month = day_and_month(time.time())
        return [self.link.key("rpm", window), self.link.key("tpm", window), self.link.key("day", window, day),
                self.link.key("month", window, month)]

    async def take_slot(self, window: str, limits: Limits, estimate: Callable[[], int]) -> tuple[int, float | None] | None:
        """``services.gateway.router.SharedLimitWindows``; without an answer from Redis the local windows decide."""
        held = estimate() if limits.tpm is not None else 0
        entry = f"{self.link.instance}:{next(self._serial)}"
        args: list[int | str] = [limits.rpm or 0, limits.tpm or 0, limits.daily_tokens or 0, held, entry, WINDOW_SECONDS,
                                 limits.monthly_usd_micros or 0]
        try:
            answer = await self._slot(keys=self._windows(window), args=args)
        except redis.RedisError as exc:
            log.warning("shared key limits: Redis did not answer (%s); this instance's windows decide", exc)
            return None
        if answer[0] == 0:
            return None
        return int(answer[0]) - 1, float(answer[1]) if len(answer) > 1 else None

    def note_usage(self, window: str, limits: Limits, minute_tokens: int, tokens: int, cost_micros: int) -> None:
        minute, day = (minute_tokens if limits.tpm is not None else 0), (tokens if limits.daily_tokens is not None else 0)
        spent = cost_micros if limits.monthly_usd_micros is not None else 0
        args = [minute, day, WINDOW_SECONDS, DAY_KEY_SECONDS, spent, MONTH_KEY_SECONDS]
        self._background(self._usage(keys=self._windows(window)[1:], args=args), f"{window}'s usage not added in Redis")

    def _budget_keys(self, names: list[str], month: str) -> list[str]:
        return [key for name in names for key in (self.link.key("spend", name, month), self.link.key("holds", name, month))]

    def settle(self, hold: Hold, month: str, cost_micros: int) -> None:
        settled = self._settle(keys=self._budget_keys(list(hold.names), month), args=[hold.shared_id or "", hold.micros, cost_micros])
        self._background(settled, f"a call's cost ({cost_micros} micro-dollars) not added in Redis")  # its hold expires by itself

    def _background(self, call: Awaitable[Any], failure: str) -> None:
        """Run a script call after the answer went out; a failure is logged (the database keeps the truth)."""
        task = asyncio.get_running_loop().create_task(_logged(call, failure))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def drain(self) -> None:
        """At shutdown: wait for the settlements still under way."""
        if self._settling:
            await asyncio.gather(*self._settling, return_exceptions=True)


async def _logged(call: Awaitable[Any], failure: str) -> None:
    try:
        await call
    except redis.RedisError as exc:
        log.warning("%s (%s)", failure, exc)

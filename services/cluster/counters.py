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
from collections.abc import Callable
from typing import Any

import redis

from services.accounts.tokens import NO_HOLD, Hold, MonthSpend, Refusal
from services.cluster.link import ClusterLink
from services.errors import ClusterUnavailable

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
HOLD_SECONDS = 900  # longer than any call may take (its retries and stream included)
MONTH_KEY_SECONDS = 40 * 24 * 3600

# One round trip per admitted call: the token's rpm window (KEYS[1], when ARGV[1] > 0), then every budget
# holder's hash and holds' set (KEYS[2], KEYS[3], …). ARGV: rpm limit (0: none), window seconds, the hold's
# id, micros, hold seconds, key seconds, then per holder its budget and its seed spend. Answers {0} when
# admitted, {1, seconds until a slot frees} over the rpm, {2, holder number} over a budget.
ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rpm, window = tonumber(ARGV[1]), tonumber(ARGV[2])
if rpm > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  if redis.call('ZCARD', KEYS[1]) >= rpm then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {1, tostring(tonumber(oldest[2]) + window - now)}
  end
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('EXPIRE', KEYS[1], window + 1)
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

    async def take_key_slot(self, key_id: int, rpm: int) -> float | None:
        """A provider key's rpm window shared by the cluster: None when this call may go, else seconds until a
        slot frees. Without an answer from Redis the key's local window decides (None)."""
        try:
            taken = await self.admit((f"key:{key_id}", rpm), {}, "", lambda: 0)
        except ClusterUnavailable:
            return None
        return taken.wait if isinstance(taken, Refusal) else None

    def _budget_keys(self, names: list[str], month: str) -> list[str]:
        return [key for name in names for key in (self.link.key("spend", name, month), self.link.key("holds", name, month))]

    def settle(self, hold: Hold, month: str, cost_micros: int) -> None:
        task = asyncio.get_running_loop().create_task(self._settle_now(hold, month, cost_micros))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _settle_now(self, hold: Hold, month: str, cost_micros: int) -> None:
        try:
            await self._settle(keys=self._budget_keys(list(hold.names), month), args=[hold.shared_id or "", hold.micros, cost_micros])
        except redis.RedisError as exc:  # the hold expires by itself; the row in the database keeps the spend
            log.warning("shared budget: a call's cost (%d micro-dollars) not added in Redis (%s)", cost_micros, exc)

    async def drain(self) -> None:
        """At shutdown: wait for the settlements still under way."""
        if self._settling:
            await asyncio.gather(*self._settling, return_exceptions=True)

"""The failover tax: what retries, cooling keys and open circuits cost over a window, and how close each
key pool came to its limits.

From the attempt trails of the window's records (read in batches, and only those whose trail holds a
failed, skipped or waiting line, or whose answer broke after it was billed):

* **extra upstream calls**: attempts that failed before another one served (or before the request
  failed), per provider and key, by reason;
* **their cost where billed**: providers do not bill a 429, a 5xx or a timeout before the first byte
  (a failed attempt records no tokens), but they do bill a stream that broke after it started: the
  cost of those answers is counted here;
* **added latency**: the time failed attempts, backoffs and waits for a cooling key added to each
  affected request (one that went past its first candidate);
* **skips**: candidates passed over, by reason (cooling, failing, circuit open, over a limit…).

Per **key pool** (a provider's enabled keys): the pool's limits (the sum of its keys' rpm, tpm and
daily tokens; unlimited when one key has none), the busiest minute's calls and tokens and the
busiest UTC day's tokens it served, the headroom left at those peaks, and a plain hint when the pool
ran out or nearly did, or when its provider rate-limited it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import and_, func, or_
from sqlalchemy import select as core_select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from services.tables import LATENCY_BUCKETS, Provider, ProviderKey
from services.usage.analytics import TimeRange, kpis
from services.usage.queries import ADMIN, UsageFilter
from services.usage.rollups import latency_bucket, percentile
from services.usage.scan import ATTEMPTS_TEXT, RAW, scan_window

NEARLY_OUT = 0.1
"""A pool with less headroom than this at its peak gets the hint."""
HINT = "add a key or shift weight to another route"
LIMITS = ("rpm", "tpm", "daily_tokens")
TROUBLED = or_(
    ATTEMPTS_TEXT.like('%"failed"%'), ATTEMPTS_TEXT.like('%"skipped"%'), ATTEMPTS_TEXT.like('%"waiting"%'),
    and_(RAW.status == "error", RAW.provider_name.is_not(None)),
)
"""Records worth reading: a failed, skipped or waiting line in the trail, or a billed answer that broke."""


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count:,} times"


def usd(micros: float) -> float:
    return round(micros / 1_000_000, 6)


@dataclass(slots=True)
class KeyTax:
    provider: str
    key_id: int | None
    key_label: str | None
    extra_calls: int = 0
    added_ms: float = 0.0
    billed_micros: int = 0
    affected_requests: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "key_id": self.key_id, "key": self.key_label, "extra_calls": self.extra_calls,
                "added_ms": round(self.added_ms, 1), "billed_usd": usd(self.billed_micros), "affected_requests": self.affected_requests,
                "failed": dict(sorted(self.failed.items())), "skipped": dict(sorted(self.skipped.items()))}


@dataclass(slots=True)
class Tax:
    """The whole window's tax, added up a record at a time."""

    keys: dict[tuple[str, int | None], KeyTax] = field(default_factory=dict)
    affected: int = 0
    extra_calls: int = 0
    billed_micros: int = 0
    added_ms: float = 0.0
    histogram: list[int] = field(default_factory=lambda: [0] * LATENCY_BUCKETS)

    def add(self, lines: list[dict[str, Any]], status: str, provider: str | None, key_id: int | None, cost: int | None) -> None:
        touched: set[tuple[str, int | None]] = set()
        added = 0.0
        for line in lines:
            outcome = line.get("outcome")
            added += float(line.get("backoff_ms") or 0.0)
            if outcome not in ("failed", "skipped"):
                continue
            tax = self._key(line.get("provider", ""), line.get("key_id"), line.get("key_label"))
            touched.add((tax.provider, tax.key_id))
            reason = str(line.get("reason") or "unknown")
            if outcome == "failed":
                ms = float(line.get("ms") or 0.0)
                tax.extra_calls += 1
                tax.added_ms += ms
                tax.failed[reason] = tax.failed.get(reason, 0) + 1
                self.extra_calls += 1
                added += ms
            else:
                tax.skipped[reason] = tax.skipped.get(reason, 0) + 1
        if status == "error" and provider is not None and cost:
            self._key(provider, key_id, None).billed_micros += cost
            self.billed_micros += cost
        if touched or added:
            self.affected += 1
            self.added_ms += added
            self.histogram[latency_bucket(added)] += 1
            for subject in touched:
                self.keys[subject].affected_requests += 1

    def _key(self, provider: str, key_id: int | None, label: str | None) -> KeyTax:
        tax = self.keys.get((provider, key_id))
        if tax is None:
            tax = self.keys[(provider, key_id)] = KeyTax(provider, key_id, label)
        tax.key_label = tax.key_label or label
        return tax

    def by_provider(self) -> list[dict[str, Any]]:
        providers: dict[str, KeyTax] = {}
        for tax in self.keys.values():
            total = providers.setdefault(tax.provider, KeyTax(tax.provider, None, None))
            total.extra_calls += tax.extra_calls
            total.added_ms += tax.added_ms
            total.billed_micros += tax.billed_micros
            for mine, theirs in ((total.failed, tax.failed), (total.skipped, tax.skipped)):
                for reason, count in theirs.items():
                    mine[reason] = mine.get(reason, 0) + count
        per_key = ("key_id", "key", "affected_requests")
        lines = [{k: v for k, v in total.as_dict().items() if k not in per_key} for total in providers.values()]
        return sorted(lines, key=lambda line: (-line["extra_calls"], line["provider"]))


# -- key pools: limits against the recorded peaks ---------------------------------------------------


@dataclass(slots=True)
class Pool:
    provider: str
    keys: int
    limits: dict[str, int | None]
    peak: dict[str, Any] = field(default_factory=dict)
    rate_limited: int = 0
    over_limit_skips: int = 0

    def headroom(self) -> dict[str, float | None]:
        return {name: (None if limit is None else round(1 - self.peak.get(name, 0) / limit, 4)) for name, limit in self.limits.items()}

    def hint(self) -> str | None:
        tight = [name for name, room in self.headroom().items() if room is not None and room < NEARLY_OUT]
        if tight:
            worst = min(tight, key=lambda name: self.headroom()[name] or 0.0)
            used = self.peak.get(worst, 0) / (self.limits[worst] or 1)
            return f"At its peak this pool used {used:.0%} of its {self.limits[worst]:,} {worst.replace('_', ' ')}: {HINT}."
        causes = []
        if self.rate_limited:
            causes.append(f"the provider rate-limited it {_times(self.rate_limited)}")
        if self.over_limit_skips:
            causes.append(f"its own limits skipped it {_times(self.over_limit_skips)}")
        if causes:
            told = " and ".join(causes)
            return f"{told[0].upper()}{told[1:]}: {HINT}."
        return None

    def as_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "keys": self.keys, "limits": self.limits, "peak": self.peak, "headroom": self.headroom(),
                "rate_limited": self.rate_limited, "over_limit_skips": self.over_limit_skips, "hint": self.hint()}


def key_pools(engine: Engine) -> dict[str, Pool]:
    """Every provider's enabled keys as one pool, with the sum of their limits (None: some key has none)."""
    pools: dict[str, Pool] = {}
    with Session(engine) as session:
        rows = session.exec(select(ProviderKey, Provider.name).join(Provider, col(Provider.id) == ProviderKey.provider_id)
                            .where(col(ProviderKey.enabled)))
        by_provider: dict[str, list[ProviderKey]] = {}
        for key, provider in rows:
            by_provider.setdefault(provider, []).append(key)
    for provider, keys in by_provider.items():
        limits: dict[str, int | None] = {}
        for name in LIMITS:
            values = [getattr(key, name) for key in keys]
            limits[name] = None if any(value is None for value in values) else sum(values)
        pools[provider] = Pool(provider, len(keys), limits)
    return pools


def _truncated(column: ColumnElement[Any], engine: Engine, unit: str) -> ColumnElement[str]:
    """A time column cut to the minute or the day, as text, in the database's own dialect."""
    if engine.dialect.name == "postgresql":
        return func.to_char(column, "YYYY-MM-DD HH24:MI" if unit == "minute" else "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d %H:%M" if unit == "minute" else "%Y-%m-%d", column)


def record_peaks(engine: Engine, pools: dict[str, Pool], since: datetime, until: datetime) -> None:
    """The busiest minute (calls, tokens) and UTC day (tokens) each pool served in the window."""
    tokens = func.sum(RAW.prompt_tokens + RAW.completion_tokens)
    window = (RAW.created_at >= since, RAW.created_at < until, RAW.provider_name.is_not(None))
    with Session(engine) as session:
        for unit in ("minute", "day"):
            moment = _truncated(RAW.created_at, engine, unit)
            query = core_select(RAW.provider_name, moment, func.count(), tokens).where(*window).group_by(RAW.provider_name, moment)
            for provider, when, calls, used in session.execute(query):
                pool = pools.get(provider)
                if pool is None:
                    continue
                if unit == "day" and int(used or 0) > pool.peak.get("daily_tokens", -1):
                    pool.peak.update(daily_tokens=int(used or 0), day=when)
                if unit == "minute" and calls > pool.peak.get("rpm", -1):
                    pool.peak.update(rpm=int(calls), minute=when)
                if unit == "minute":
                    pool.peak["tpm"] = max(pool.peak.get("tpm", 0), int(used or 0))


def failover_tax(engine: Engine, since: datetime, until: datetime, *, requests: int) -> dict[str, Any]:
    """The window's failover tax and key-pool headroom (``requests``: all requests in the window, from the rollups)."""
    tax = Tax()
    columns = (RAW.status, RAW.provider_name, RAW.key_id, RAW.cost_micros, ATTEMPTS_TEXT)
    for batch in scan_window(engine, columns, since, until, TROUBLED):
        for _, row in batch:
            status, provider, key_id, cost, attempts = tuple(row)[2:]
            tax.add(orjson.loads(attempts) if attempts else [], status, provider, key_id, cost)
    pools = key_pools(engine)
    record_peaks(engine, pools, since, until)
    for (provider, _), key_tax in tax.keys.items():
        pool = pools.get(provider)
        if pool is not None:
            pool.rate_limited += key_tax.failed.get("rate_limited", 0)
            pool.over_limit_skips += sum(n for reason, n in key_tax.skipped.items() if "over_" in reason)
    p95 = percentile(tax.histogram, 0.95)
    return {
        "object": "usage.failover",
        "requests": requests, "affected_requests": tax.affected, "extra_calls": tax.extra_calls, "billed_usd": usd(tax.billed_micros),
        "added_ms_per_affected_request": round(tax.added_ms / tax.affected, 1) if tax.affected else None,
        "added_ms_p95": None if p95 is None else round(p95, 1),
        "by_provider": tax.by_provider(),
        "by_key": [t.as_dict() for t in sorted(tax.keys.values(), key=lambda t: (-t.extra_calls, t.provider, t.key_id or 0))],
        "pools": [pool.as_dict() for pool in sorted(pools.values(), key=lambda p: p.provider)],
    }


def failover_report(engine: Engine, window: TimeRange) -> dict[str, Any]:
    """``failover_tax`` over a usage range, against every request in it (the API's and the Usage page's answer)."""
    requests = kpis(engine, UsageFilter(), ADMIN, window).requests
    return failover_tax(engine, window.since, window.until, requests=requests)

"""Usage analytics at scale: seed a million usage records, time the usage page's data and the
export, and show that export memory stays flat.

    python bench/usage.py [--rows 1000000] [--keep DIR] [--postgres]

Records are spread over the last 90 days across 24 people (two tokens each), 3 providers with
2 keys each and 6 models; about 3% are errors and 5% failovers. They are loaded in batches of
20,000 through ``services.db.insert_rows`` (straight to the driver, values in the form SQLAlchemy
stores them: ``executemany`` on SQLite, ``COPY`` on PostgreSQL) into a temporary data dir's SQLite
file or, with ``--postgres``, a scratch PostgreSQL database, each batch's rollups built in the same
transaction by ``services.usage.rollups.apply_rollups`` — exactly what the usage recorder does.

Page data = the service calls the usage page makes for one filter state (``usage_overview``:
KPIs, stacked series, latency, provider error rates, first breakdown page; plus budgets and the
filter choices), for an admin (everyone) and for one user. Exports stream every selected record
as CSV; peak memory is measured twice: Python allocations (tracemalloc, a separate pass) and the
process RSS growth (sampled every 10 ms during the timed pass).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from services.db import init_schema, insert_rows, is_postgresql, make_engine  # noqa: E402
from services.tables import GatewayToken, Provider, ProviderKey, User  # noqa: E402
from services.usage.analytics import (  # noqa: E402
    TimeRange,
    filter_options,
    preset_range,
    usage_overview,
)
from services.usage.budgets import budget_lines  # noqa: E402
from services.usage.exports import count_records, export_stream  # noqa: E402
from services.usage.queries import ADMIN, UsageFilter, Viewer  # noqa: E402
from services.usage.rollups import apply_rollups, mark_rollups_current  # noqa: E402
from services.usage.tables import USAGE_RECORD  # noqa: E402
from tests.databases import scratch_postgres  # noqa: E402

BATCH = 20_000
DAYS = 90
PAGE_TARGET_S = 1.0
PROVIDERS = {"openai-main": ["gpt-4o", "gpt-4o-mini"], "anthropic-main": ["claude-sonnet-4-5"], "gemini-main": ["gemini-2.5-flash"]}
MODELS = {
    "smart": ("openai-main", "gpt-4o"), "fast": ("openai-main", "gpt-4o-mini"), "claude": ("anthropic-main", "claude-sonnet-4-5"),
    "gemini": ("gemini-main", "gemini-2.5-flash"), "cheap": ("gemini-main", "gemini-2.5-flash"),
    "writer": ("anthropic-main", "claude-sonnet-4-5"),
}


def seed_catalog(engine: Engine) -> dict[str, Any]:
    with Session(engine) as session:
        users = [User(email=f"user{i:02d}@example.com", role="admin" if i == 0 else "user") for i in range(24)]
        session.add_all(users)
        providers = {name: Provider(name=name, kind="openai") for name in PROVIDERS}
        session.add_all(providers.values())
        session.flush()
        tokens = [GatewayToken(user_id=u.id or 0, name=f"t{j}", token_hash=f"{u.id}-{j}".ljust(64, "0"), token_last4=f"{u.id:04d}",
                               monthly_budget_micros=50_000_000) for u in users for j in range(2)]
        keys = [ProviderKey(provider_id=p.id or 0, label=f"k{j}", secret_enc="-", secret_last4="0000", daily_tokens=5_000_000)
                for p in providers.values() for j in range(2)]
        session.add_all([*tokens, *keys])
        session.commit()
        return {
            "tokens": [(t.id, t.user_id) for t in tokens],
            "keys": {name: [k.id for k in keys if k.provider_id == p.id] for name, p in providers.items()},
            "provider_ids": {name: p.id for name, p in providers.items()},
        }


def generate(count: int, catalog: dict[str, Any], now: datetime, rng: random.Random) -> Iterator[list[dict[str, Any]]]:
    """Batches of usage rows, oldest first, shaped like the gateway's."""
    start = now - timedelta(days=DAYS - 1)  # inside the 90-day preset, which starts at a UTC midnight
    span = (now - start).total_seconds()
    step = span / count
    models = list(MODELS)
    batch: list[dict[str, Any]] = []
    for i in range(count):
        model = models[min(int(rng.paretovariate(1.2)) - 1, len(models) - 1)]
        provider, upstream = MODELS[model]
        token_id, user_id = catalog["tokens"][int(rng.random() ** 2 * len(catalog["tokens"]))]
        key_id = rng.choice(catalog["keys"][provider])
        ok = rng.random() > 0.03
        prompt, completion = rng.randint(20, 2000), rng.randint(5, 800) if ok else 0
        latency = rng.lognormvariate(6.5, 0.7)
        attempts = [{"provider": provider, "model": upstream, "key_id": key_id, "key_label": "k", "outcome": "served" if ok else "failed",
                     "reason": None if ok else "upstream_5xx", "ms": round(latency, 1)}]
        if rng.random() < 0.05:
            attempts.insert(0, {"provider": provider, "model": upstream, "key_id": key_id, "key_label": "k", "outcome": "failed",
                                "reason": "rate_limited", "status": 429, "ms": 3.0})
        stream = rng.random() < 0.6
        batch.append({
            "created_at": start + timedelta(seconds=i * step), "request_id": f"req_{i:012x}", "source": "api", "token_id": token_id,
            "user_id": user_id, "endpoint": "chat", "requested_model": model,
            "provider_id": catalog["provider_ids"][provider] if ok else None, "provider_name": provider if ok else None,
            "upstream_model": upstream if ok else None, "key_id": key_id if ok else None, "status": "ok" if ok else "error",
            "http_status": 200 if ok else 502, "error_code": None if ok else "all_upstreams_failed", "prompt_tokens": prompt,
            "completion_tokens": completion, "cost_micros": (prompt * 2 + completion * 8) if ok else None,
            "latency_ms": round(latency, 2), "ttft_ms": round(latency * 0.3, 2) if ok and stream else None, "overhead_ms": 0.4,
            "stream": stream, "attempts": [{k: v for k, v in a.items() if v is not None} for a in attempts],
        })
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def load(engine: Engine, count: int, now: datetime) -> float:
    catalog = seed_catalog(engine)
    rng = random.Random(42)
    began = time.perf_counter()
    for batch in generate(count, catalog, now, rng):
        with engine.begin() as connection:
            insert_rows(connection, USAGE_RECORD, batch)
            apply_rollups(connection, batch)
    with engine.begin() as connection:
        mark_rollups_current(connection)
    return time.perf_counter() - began


def timed(action: Callable[[], Any], repeat: int = 3) -> tuple[float, float]:
    """Best of ``repeat`` runs as (wall, CPU) seconds; the first run warms SQLite's page cache.
    CPU time is shown too because on a shared machine the wall clock includes waiting for a core."""
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        action()
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


def _ms(times: tuple[float, float]) -> str:
    return f"{times[0] * 1000:,.0f} ms ({times[1] * 1000:,.0f} CPU)"


def page_data(engine: Engine, viewer: Viewer, name: str, now: datetime) -> Callable[[], Any]:
    window = preset_range(name, now)

    def run() -> Any:
        return (usage_overview(engine, UsageFilter(), viewer, window, stack_by="model", page_size=10),
                budget_lines(engine, viewer, now), filter_options(engine, viewer))

    return run


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def export_run(engine: Engine, window: Any) -> tuple[float, float, int, int]:
    """One CSV export of every record in ``window``: (wall s, CPU s, bytes out, peak RSS growth)."""
    base = _rss_bytes()
    peak = [base]
    cpu = time.process_time()
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], _rss_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    began = time.perf_counter()
    size = sum(len(chunk) for chunk in export_stream(engine, "records", "csv", UsageFilter(), ADMIN, window))
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    done.set()
    sampler.join()
    return seconds, cpu, size, peak[0] - base


def export_python_peak(engine: Engine, window: Any) -> int:
    tracemalloc.start()
    for _ in export_stream(engine, "records", "csv", UsageFilter(), ADMIN, window):
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="use (and keep) this data dir instead of a temporary one")
    parser.add_argument("--postgres", action="store_true",
                        help="a scratch PostgreSQL database (LLMHUB_TEST_POSTGRES's server) instead of a SQLite file, dropped after")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="llmhub-bench-usage-"))
    with scratch_postgres() if args.postgres else nullcontext() as postgres:
        run(make_engine(postgres.render_as_string(hide_password=False) if postgres else folder / "llmhub.db"), args.rows)
    if args.keep is None:
        shutil.rmtree(folder, ignore_errors=True)


def database_mb(engine: Engine) -> float:
    if is_postgresql(engine):
        with engine.connect() as connection:
            return float(connection.execute(text("SELECT pg_database_size(current_database())")).scalar_one()) / 1e6
    return Path(engine.url.database or "").stat().st_size / 1e6


def run(engine: Engine, count: int) -> None:
    """Load ``count`` records into ``engine``'s empty database, then time the page data and the exports."""
    now = datetime.now(UTC)
    init_schema(engine)
    try:
        seconds = load(engine, count, now)
        size_mb = database_mb(engine)
        rate = count / seconds
        print(f"loaded {count:,} records (+ rollups) in {seconds:.1f} s ({rate:,.0f} rows/s); database {size_mb:,.0f} MB\n")
        user = Viewer(5, False)
        print("| usage page data | admin (everyone) | one user | target |")
        print("|---|---|---|---|")
        for name in ("24h", "7d", "30d", "90d"):
            admin_s = timed(page_data(engine, ADMIN, name, now))
            user_s = timed(page_data(engine, user, name, now))
            verdict = "PASS" if max(admin_s[0], user_s[0]) < PAGE_TARGET_S else "MISS"
            print(f"| {name} | {_ms(admin_s)} | {_ms(user_s)} | < {PAGE_TARGET_S:.0f} s {verdict} |")
        print("\n| CSV export (records) | rows | time | MB out | peak RSS growth | peak Python allocations |")
        print("|---|---|---|---|---|---|")
        everything = preset_range("90d", now)
        recent = TimeRange(now - timedelta(days=DAYS * min(1.0, 100_000 / count)), everything.until, everything.width)
        for label, window in (("~100k rows", recent), ("all rows", everything)):
            rows = count_records(engine, UsageFilter(), ADMIN, window)
            export_s, cpu_s, size, rss = export_run(engine, window)
            python_peak = export_python_peak(engine, window)
            print(f"| {label} | {rows:,} | {export_s:.1f} s ({cpu_s:.1f} s CPU, {rows / export_s:,.0f} rows/s) | {size / 1e6:,.0f} "
                  f"| {rss / 1e6:,.1f} MB | {python_peak / 1e6:,.1f} MB |")
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()

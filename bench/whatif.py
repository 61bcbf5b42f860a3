"""The routing what-if at scale: record a million calls, then time their replay against a few proposals.

    python bench/whatif.py [--rows 1000000] [--keep DIR]

Records go into a scratch SQLite database through the usage recorder's own bulk path
(``UsageRecorder.write_batch``: raw rows and rollups in one transaction, batches of 20,000). They are
calls to the logical model ``smart`` over the last 30 days (plus a fifth as many to other models,
which the replay must skip), arriving in bursts: most minutes quiet, some busy. Of ``smart``'s calls
about 3 % failed over from a rate-limited key to the second route and 2 % found the first key
cooling; the rest were served by one of two OpenAI keys.

Each proposal is replayed once for its answer, then timed as the best of three more runs
(``bench.usage.timed``), wall clock and CPU time (the machine is shared: the wall clock includes waiting for a core),
with the replay's peak Python allocations measured in a separate pass (tracemalloc slows a run down).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy.engine import Engine  # noqa: E402

from bench.usage import timed  # noqa: E402
from services.db import init_schema, make_engine  # noqa: E402
from services.gateway.pricing import PriceTable  # noqa: E402
from services.gateway.routing_table import KeyEntry, Limits, ProviderEntry, RouteEntry, RoutingTable  # noqa: E402
from services.usage.recorder import UsageRecorder  # noqa: E402
from services.usage.scan import ATTEMPTS_TEXT, RAW, scan_window  # noqa: E402
from services.usage.whatif import COLUMNS, WhatIfRequest, what_if  # noqa: E402

BATCH = 20_000
DAYS = 30
TARGET_S = 10.0
OPENAI = ProviderEntry(1, "openai-main", "openai", "https://api.openai.invalid/v1", True)
ANTHROPIC = ProviderEntry(2, "anthropic-main", "anthropic", "https://api.anthropic.invalid", True)
KEYS = {1: (KeyEntry(1, 1, "k0", "-", limits=Limits(rpm=500)), KeyEntry(2, 1, "k1", "-", limits=Limits(rpm=500))),
        2: (KeyEntry(3, 2, "a0", "-"),)}
TABLE = RoutingTable(
    {1: OPENAI, 2: ANTHROPIC}, {"openai-main": OPENAI, "anthropic-main": ANTHROPIC}, KEYS,
    {"smart": (RouteEntry(OPENAI, "gpt-4o", 1, 1, id=1), RouteEntry(ANTHROPIC, "claude-sonnet-4-5", 2, 1, id=2))},
)
PROPOSALS: dict[str, list[dict[str, Any]]] = {
    "the current routes": [
        {"provider": "openai-main", "model": "gpt-4o", "priority": 1},
        {"provider": "anthropic-main", "model": "claude-sonnet-4-5", "priority": 2},
    ],
    "3:1 gpt-4o-mini : gpt-4o": [
        {"provider": "openai-main", "model": "gpt-4o-mini", "weight": 3},
        {"provider": "openai-main", "model": "gpt-4o", "weight": 1},
        {"provider": "anthropic-main", "model": "claude-sonnet-4-5", "priority": 2},
    ],
    "one key at 20 rpm, priced": [
        {"provider": "openai-main", "model": "gpt-4o", "keys": ["k0"], "rpm": 20, "price": {"input": "2", "output": "8"}},
    ],
}


def served(provider: str, model: str, key_id: int, label: str, ms: float) -> dict[str, Any]:
    return {"provider": provider, "model": model, "key_id": key_id, "key_label": label, "outcome": "served", "ms": ms}


def generate(count: int, now: datetime, rng: random.Random) -> Iterator[list[dict[str, Any]]]:
    """Batches of usage rows shaped like the gateway's, oldest first, in bursts."""
    start = now - timedelta(days=DAYS - 1)
    step = (now - start).total_seconds() / count
    t = 0.0
    batch: list[dict[str, Any]] = []
    for i in range(count):
        t += step * (rng.expovariate(1.0) * (0.05 if rng.random() < 0.5 else 1.95))  # half the gaps short: bursts
        model = "smart" if rng.random() < 5 / 6 else rng.choice(("fast", "cheap"))
        prompt, completion = rng.randint(20, 3000), rng.randint(5, 900)
        latency = rng.lognormvariate(6.5, 0.6)
        key_id = rng.choice((1, 2))
        attempts = [served("openai-main", "gpt-4o", key_id, f"k{key_id - 1}", round(latency * 0.97, 1))]
        provider, upstream = "openai-main", "gpt-4o"
        chance = rng.random()
        if chance < 0.03:
            attempts = [{**attempts[0], "outcome": "failed", "reason": "rate_limited", "status": 429, "ms": 4.0},
                        served("anthropic-main", "claude-sonnet-4-5", 3, "a0", round(latency * 1.2, 1))]
            provider, upstream, key_id = "anthropic-main", "claude-sonnet-4-5", 3
        elif chance < 0.05:
            attempts.insert(0, {"provider": "openai-main", "model": "gpt-4o", "key_id": 3 - key_id, "key_label": "k", "outcome": "skipped",
                                "reason": "cooling"})
        cost = prompt * 2.5 + completion * 10 if provider == "openai-main" else prompt * 3 + completion * 15
        batch.append({
            "created_at": min(start + timedelta(seconds=t), now), "request_id": f"req_{i:012x}", "source": "api", "token_id": None,
            "user_id": None, "endpoint": "chat", "requested_model": model, "provider_id": 1 if provider == "openai-main" else 2,
            "provider_name": provider, "upstream_model": upstream, "key_id": key_id, "status": "ok", "http_status": 200,
            "error_code": None, "prompt_tokens": prompt, "completion_tokens": completion, "cost_micros": round(cost),
            "latency_ms": round(latency, 2), "ttft_ms": None, "overhead_ms": 0.5, "stream": False, "attempts": attempts,
        })
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def load(engine: Engine, count: int, now: datetime) -> float:
    recorder = UsageRecorder(engine)
    began = time.perf_counter()
    for batch in generate(count, now, random.Random(18)):
        recorder.write_batch(batch)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="use (and keep) this data dir instead of a temporary one")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="llmhub-bench-whatif-"))
    now = datetime.now(UTC)
    engine = make_engine(folder / "llmhub.db")
    init_schema(engine)
    pricing = PriceTable.load()
    try:
        seconds = load(engine, args.rows, now)
        size_mb = (folder / "llmhub.db").stat().st_size / 1e6
        print(f"recorded {args.rows:,} calls in {seconds:.1f} s ({args.rows / seconds:,.0f} rows/s) through "
              f"UsageRecorder.write_batch; database {size_mb:,.0f} MB\n")
        since, until = now - timedelta(days=DAYS), now + timedelta(seconds=1)

        def read_only() -> int:
            rows = 0
            for batch in scan_window(engine, COLUMNS, since, until, RAW.requested_model == "smart", ATTEMPTS_TEXT.is_not(None)):
                rows += len(batch)
            return rows

        rows = read_only()
        wall, cpu = timed(read_only)
        print("| what | calls replayed | wall s | CPU s | calls/s | proposed cost vs baseline | failovers | 429s | target |")
        print("|---|--:|--:|--:|--:|--:|--:|--:|---|")
        print(f"| reading the calls only (batches of 5,000) | {rows:,} | {wall:.1f} | {cpu:.1f} | {rows / wall:,.0f} | – | – | – | – |")
        for name, routes in PROPOSALS.items():
            request = WhatIfRequest.model_validate({"model": "smart", "routes": routes, "since": since, "until": until})
            answer = what_if(engine, TABLE, pricing, request, now=until)
            wall, cpu = timed(lambda request=request: what_if(engine, TABLE, pricing, request, now=until))
            delta = answer["delta_cost_usd"]
            verdict = "PASS" if wall < TARGET_S else "MISS"
            print(f"| replay: {name} | {answer['requests']:,} | {wall:.1f} | {cpu:.1f} | {answer['requests'] / wall:,.0f} "
                  f"| {delta:+,.2f} $ of {answer['baseline']['cost_usd']:,.2f} $ | {answer['baseline']['failovers']:,} → "
                  f"{answer['proposed']['failovers']:,} | {answer['proposed']['rate_limited']:,} | < {TARGET_S:.0f} s {verdict} |")
        request = WhatIfRequest.model_validate({"model": "smart", "routes": PROPOSALS["3:1 gpt-4o-mini : gpt-4o"], "since": since,
                                                "until": until})
        tracemalloc.start()
        what_if(engine, TABLE, pricing, request, now=until)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"\npeak Python allocations during one replay (tracemalloc, a separate pass): {peak / 1e6:,.1f} MB")
    finally:
        engine.dispose()
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The response cache's speed: what a hit costs against a miss and an uncached call, and how the
lookups scale with the number of entries. Prints two Markdown tables.

    python bench/cache.py                 # ~2 minutes; --duration N seconds per load row, --only-lookups skips the servers

**Lookups** (in this process, no server): for 1k, 10k and 100k entries, the exact lookup (the request's
canonical key hashed, then the in-memory LRU) and the semantic lookup (one context holding every entry,
384-dimension vectors as a MiniLM-sized model gives: one matrix-vector product and an argmax), in µs.

**Hit against miss** (the emulator and LLM Hub as in ``bench/gateway.py``, LLM Hub pinned alone on the
first CPU; driven by ``wrk``, one connection per concurrent client): ``no cache`` posts the same chat body
to a model without a cache (every call goes upstream), ``miss`` posts a new question each time to a model
with the cache on (an upstream call, the key, the answer kept), ``hit`` posts the same question again
and again (answered from memory), ``semantic hit`` a new question each time that is one word away from the
ones stored (the emulator's bag-of-words ``bow-embed`` embeds it: one embedding call, one index lookup,
then the stored answer). ``× no cache`` divides the row's p50 latency (and requests/s) by the
uncached row's of the same mode and concurrency.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as run.py sets it for the server

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gateway import HUB, PROMPT, Server, chat_body, launch, start_emulator, wait_ready  # noqa: E402

from services.cache.keys import request_key  # noqa: E402
from services.cache.semantic import SemanticIndex, normalized  # noqa: E402
from services.cache.store import AnswerStore, CachedAnswer  # noqa: E402
from tests.conftest import child_env, free_port  # noqa: E402

SIZES = (1_000, 10_000, 100_000)
DIMENSIONS = 384
LOOKUPS = 300
MASTER_KEY = "sk-bench-" + secrets.token_hex(16)
CONCURRENCIES = (1, 32)

MISS_SCRIPT = """
counter = 0
request = function()
  counter = counter + 1
  local body = string.format([==[%(template)s]==], counter)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["Authorization"] = "Bearer %(token)s"}, body)
end
"""
SAME_SCRIPT = """
wrk.method = "POST"
wrk.body = [==[%(body)s]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
"""
SUMMARY = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status + e.connect + e.read + e.write + e.timeout))
end
"""


# ----------------------------------------------------------------------------- lookups


def timed_us(action: object, repeat: int) -> float:
    assert callable(action)
    started = time.perf_counter()
    for _ in range(repeat):
        action()
    return (time.perf_counter() - started) / repeat * 1e6


def lookup_rows() -> list[str]:
    rng = np.random.default_rng(7)
    body = json.loads(chat_body("bench-cached", stream=False))
    rows = []
    for size in SIZES:
        store, index = AnswerStore(memory_bytes=1 << 40), SemanticIndex()
        vectors = rng.standard_normal((size, DIMENSIONS), dtype=np.float32)
        now = time.time()
        for number in range(size):
            key = request_key("chat", "json", "t-", {**body, "messages": [{"role": "user", "content": f"{PROMPT} {number}"}]})
            store.keep(CachedAnswer(key, "bench-cached", "chat", "json", b"{}", now, now + 3600))
            vector = normalized(vectors[number])
            assert vector is not None
            index.add("context", key, vector)
        asked = {**body, "messages": [{"role": "user", "content": f"{PROMPT} {random.randrange(size)}"}]}
        exact = timed_us(lambda asked=asked, store=store, now=now: store.recent(request_key("chat", "json", "t-", asked), now), LOOKUPS)
        query = normalized(rng.standard_normal(DIMENSIONS, dtype=np.float32))
        assert query is not None
        semantic = timed_us(lambda index=index, query=query: index.nearest("context", query, 0.9), LOOKUPS)
        rows.append(f"| {size:,} | {exact:.1f} | {semantic:.1f} |")
        print(f"  lookups at {size:,} entries: exact {exact:.1f} µs, semantic {semantic:.1f} µs", file=sys.stderr, flush=True)
    return rows


# ----------------------------------------------------------------------------- hit against miss


def start_hub(workdir: Path, emulator: Server) -> Server:
    provider = {"name": "emu", "kind": "openai", "base_url": emulator.url + "/v1", "keys": [{"label": "bench", "secret": "ok#bench"}]}
    route = [{"provider": "emu", "model": "gpt-4o", "price": {"input": "2.5", "output": "10"}}]
    semantic = {"only_deterministic": False, "semantic": True, "threshold": 0.9, "embedding_model": "bench-embed"}
    config = {"providers": [provider], "models": [
        {"name": "bench", "routes": route},
        {"name": "bench-cached", "cache": {"only_deterministic": False}, "routes": route},
        {"name": "bench-semantic", "cache": semantic, "routes": route},
        {"name": "bench-embed", "routes": [{"provider": "emu", "model": "bow-embed"}]},
    ]}
    path = workdir / "llmhub.yaml"
    path.write_text(json.dumps(config))
    port = free_port()
    env = child_env(LLMHUB_PORT=str(port), LLMHUB_DATA_DIR=str(workdir / "data"), LLMHUB_MASTER_KEY=MASTER_KEY, LLMHUB_CONFIG=str(path))
    server = launch(HUB, [sys.executable, "run.py"], port, workdir, sut=True, env=env)
    wait_ready(server, "/health", 60)
    return server


def wrk_script(row: str, stream: bool) -> str:
    if row in ("miss", "semantic hit"):
        numbered = f"{PROMPT} {secrets.token_hex(4)} %d"  # a new question each request (string.format fills in the counter)
        model = "bench-cached" if row == "miss" else "bench-semantic"  # one word apart: near enough (cosine 0.92)
        template = chat_body(model, stream=stream).decode().replace("%", "%%").replace(PROMPT, numbered)
        return MISS_SCRIPT % {"template": template, "token": MASTER_KEY} + SUMMARY
    model = "bench" if row == "no cache" else "bench-cached"
    return SAME_SCRIPT % {"body": chat_body(model, stream=stream).decode(), "token": MASTER_KEY} + SUMMARY


def run_wrk(url: str, script_text: str, concurrency: int, seconds: int, workdir: Path) -> tuple[float, float, float, int]:
    """requests/s, p50 and p99 in ms, errors."""
    script = workdir / f"wrk-{secrets.token_hex(4)}.lua"
    script.write_text(script_text)
    argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url + "/v1/chat/completions"]
    output = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH "))
    requests, duration_us, p50_us, p99_us, errors = map(int, line.split()[1:])
    return requests / (duration_us / 1e6), p50_us / 1000, p99_us / 1000, errors


def load_rows(duration: int) -> list[str]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="llmhub-bench-cache-") as folder:
        workdir = Path(folder)
        emulator = start_emulator(workdir)
        hub = start_hub(workdir, emulator)
        try:
            for concurrency in CONCURRENCIES:
                for stream in (False, True):
                    measured: dict[str, tuple[float, float, float, int]] = {}
                    for row in ("no cache", "miss", "hit", "semantic hit"):
                        script = wrk_script(row, stream)
                        run_wrk(hub.url, script, concurrency, 1, workdir)  # warm-up (and the hit row's one miss)
                        measured[row] = run_wrk(hub.url, script, concurrency, duration, workdir)
                        rps, p50, p99, errors = measured[row]
                        base_rps, base_p50 = measured["no cache"][0], measured["no cache"][1]
                        mode = "stream" if stream else "non-stream"
                        rows.append(f"| {row} | {mode} | {concurrency} | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {errors} "
                                    f"| {p50 / base_p50:.2f} | {rps / base_rps:.2f} |")
                        print(f"  {row:8} {mode:10} c={concurrency:<3} {rps:7.0f} req/s p50 {p50:.2f} ms", file=sys.stderr, flush=True)
            rows.append("")
            rows.append(f"Lookups over the whole run ({cache_counts(hub)}).")
        finally:
            hub.stop()
            emulator.stop()
    return rows


def cache_counts(hub: Server) -> str:
    """The hub's own count of hits and misses per cached model (``/metrics``): what the rows above really were."""
    text = httpx.get(hub.url + "/metrics", headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=10).text
    counts = re.findall(r'^llmhub_cache_(hits|misses)_total\{model="([^"]+)"\} ([0-9.e+]+)$', text, re.MULTILINE)
    return ", ".join(f"{model}: {float(value):,.0f} {kind}" for kind, model, value in sorted(counts, key=lambda c: (c[1], c[0])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per measured load row")
    parser.add_argument("--only-lookups", action="store_true", help="skip the servers: the lookup table only")
    args = parser.parse_args()
    print("| entries | exact lookup µs | semantic lookup µs |\n|---:|---:|---:|")
    print("\n".join(lookup_rows()))
    if args.only_lookups:
        return
    print("\n| row | mode | concurrency | req/s | p50 ms | p99 ms | errors | × no cache p50 | × no cache req/s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(load_rows(args.duration)))


if __name__ == "__main__":
    main()

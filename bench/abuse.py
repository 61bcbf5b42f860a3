"""Abuse probes (issue #16): what a careless or hostile client can do to a running LLM Hub.

    python bench/abuse.py [--messages 100000] [--large-mb 50] [--huge-mb 500]

One hub subprocess in front of the emulator (``tests/upstream_emulator.py``, also a subprocess). Each
probe runs while a thread asks ``/health`` every 50 ms; the table shows per probe the time to the
answer (or to the refusal), the answer's status, the hub's peak RSS (``VmHWM``) after the probe, the
longest ``/health`` answer while it ran (the stall, against the same probe's median at rest: the
baseline of the same run), the budget overshoot, and the usage rows lost.

Probes: 100,000 one-line messages to an Anthropic route; a 50 MB body announced by Content-Length;
a 500 MB chunked body; 50 concurrent calls on a token with a $0.01 budget (each about $0.00126);
SIGKILL under load from 8 clients, then a restart (answered calls without a usage row).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gateway import Server, launch, start_emulator, wait_ready  # noqa: E402
from tests.conftest import child_env, free_port  # noqa: E402

MASTER_KEY = "sk-bench-abuse-master-key-0123"
HEALTH_EVERY_S = 0.05
BUDGET_USD = "0.01"
BURST = 50
KILL_CLIENTS = 8
ANSWERS_BEFORE_KILL = 400


@dataclass
class Row:
    probe: str
    seconds: float
    status: str
    rss_mb: float
    stall_ms: float
    overshoot: str = "–"
    lost: str = "–"


def config(emulator: Server) -> dict[str, object]:
    return {
        "providers": [
            {"name": "emu", "kind": "openai", "base_url": emulator.url + "/v1", "keys": [{"label": "k", "secret": "ok#abuse-openai"}]},
            {"name": "claude", "kind": "anthropic", "base_url": emulator.url, "keys": [{"label": "k", "secret": "ok#abuse-anthropic"}]},
        ],
        "models": [
            {"name": "gpt", "routes": [{"provider": "emu", "model": "gpt-4o"}]},
            {"name": "claude", "routes": [{"provider": "claude", "model": "claude-sonnet-4-5"}]},
        ],
    }


def start_hub(workdir: Path, emulator: Server) -> Server:
    path = workdir / "llmhub.yaml"
    path.write_text(json.dumps(config(emulator)))  # JSON is YAML
    port = free_port()
    env = child_env(LLMHUB_PORT=str(port), LLMHUB_DATA_DIR=str(workdir / "data"), LLMHUB_MASTER_KEY=MASTER_KEY, LLMHUB_CONFIG=str(path))
    server = launch("llmhub", [sys.executable, "run.py"], port, workdir, sut=False, env=env)
    wait_ready(server, "/health", 90)
    return server


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class HealthProbe:
    """Asks ``/health`` every 50 ms on its own thread; ``longest_ms`` is the slowest answer seen."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=600) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                with contextlib.suppress(httpx.HTTPError):
                    client.get(self.url + "/health")
                self.times.append((time.perf_counter() - started) * 1000)
                self._stop.wait(HEALTH_EVERY_S)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def longest_ms(self) -> float:
        return max(self.times, default=0.0)


def timed(hub: Server, probe: str, call: Callable[[], str]) -> Row:
    with HealthProbe(hub.url) as health:
        started = time.perf_counter()
        status = call()
        seconds = time.perf_counter() - started
    return Row(probe, seconds, status, peak_rss_mb(hub.process.pid), health.longest_ms)


def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {MASTER_KEY}"}


def post_status(url: str, **kwargs: object) -> str:
    try:
        return str(httpx.post(url, headers=admin(), timeout=600, **kwargs).status_code)  # type: ignore[arg-type]
    except httpx.HTTPError as error:
        return f"{type(error).__name__}"


def many_messages(hub: Server, count: int) -> Row:
    messages = [{"role": "user" if i // 1000 % 2 == 0 else "assistant", "content": "x"} for i in range(count)]
    body = json.dumps({"model": "claude", "messages": messages}).encode()
    return timed(hub, f"{count:,} messages ({len(body) / 1e6:.1f} MB)", lambda: post_status(hub.url + "/v1/chat/completions",
                                                                                          content=body))


def large_body(hub: Server, megabytes: int) -> Row:
    body = b" " * (megabytes * 1_000_000)
    return timed(hub, f"{megabytes} MB body", lambda: post_status(hub.url + "/v1/chat/completions", content=body))


def chunked_body(hub: Server, megabytes: int) -> Row:
    chunk = b" " * 1_000_000

    def chunks() -> Iterator[bytes]:
        for _ in range(megabytes):
            yield chunk

    return timed(hub, f"{megabytes} MB chunked", lambda: post_status(hub.url + "/v1/chat/completions", content=chunks()))


def budget_burst(hub: Server) -> Row:
    with httpx.Client(base_url=hub.url, headers=admin(), timeout=60) as client:
        client.post("/api/users", json={"email": "burst@example.com", "password": "long enough password"}).raise_for_status()
        token = client.post("/api/tokens", json={"name": "burst", "user_email": "burst@example.com",
                                                 "monthly_budget_usd": BUDGET_USD}).json()["token"]
    body = {"model": "gpt", "messages": [{"role": "user", "content": " ".join(["word"] * 100)}], "max_tokens": 200}

    def call(_: int) -> int:
        return httpx.post(hub.url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60).status_code

    def burst() -> str:
        with ThreadPoolExecutor(BURST) as pool:
            codes = list(pool.map(call, range(BURST)))
        return f"{codes.count(200)}×200, {codes.count(429)}×429"

    row = timed(hub, f"{BURST} calls on a ${BUDGET_USD} budget", burst)
    time.sleep(1.5)  # the usage batch
    with sqlite3.connect(Path(hub.log_path.parent, "data", "llmhub.db")) as db:
        spent = db.execute("SELECT COALESCE(SUM(cost_micros), 0) FROM usagerecord u JOIN gatewaytoken t ON t.id = u.token_id "
                           "WHERE t.name = 'burst'").fetchone()[0]
    row.overshoot = f"{spent / (float(BUDGET_USD) * 1e6):.2f}× budget"
    return row


def kill_under_load(workdir: Path, emulator: Server, hub: Server) -> tuple[Row, Server]:
    answered: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=hub.url, headers=admin(), timeout=10) as client:
            while not stop.is_set():
                try:
                    answer = client.post("/v1/chat/completions", json={"model": "gpt", "messages": [{"role": "user", "content": "hi"}]})
                except httpx.HTTPError:
                    return
                if answer.status_code == 200:
                    answered.append(answer.headers["x-llmhub-request-id"])

    clients = [threading.Thread(target=hammer) for _ in range(KILL_CLIENTS)]
    started = time.perf_counter()
    for client in clients:
        client.start()
    while len(answered) < ANSWERS_BEFORE_KILL:
        time.sleep(0.01)
    hub.process.kill()
    hub.process.wait()
    stop.set()
    for client in clients:
        client.join()
    seconds = time.perf_counter() - started
    restarted = start_hub(workdir, emulator)
    time.sleep(1.5)  # the replay runs as the usage writer starts
    with sqlite3.connect(workdir / "data" / "llmhub.db") as db:
        stored = {row[0] for row in db.execute("SELECT request_id FROM usagerecord")}
    lost = len(set(answered) - stored)
    row = Row(f"SIGKILL under {KILL_CLIENTS} clients", seconds, f"{len(answered)} answered", peak_rss_mb(restarted.process.pid), 0.0)
    row.lost = f"{lost} of {len(answered)}"
    return row, restarted


def table(rows: list[Row], baseline_ms: float) -> str:
    lines = [
        f"/health at rest: median {baseline_ms:.1f} ms (the stall column's baseline)",
        "",
        "| probe | time to answer | answer | hub peak RSS | longest /health | overshoot | rows lost |",
        "|---|---:|---|---:|---:|---|---|",
    ]
    for row in rows:
        stall = f"{row.stall_ms:,.0f} ms ({row.stall_ms / baseline_ms:,.0f}×)" if row.stall_ms else "–"
        cells = [row.probe, f"{row.seconds:.2f} s", row.status, f"{row.rss_mb:,.0f} MB", stall, row.overshoot, row.lost]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--large-mb", type=int, default=50)
    parser.add_argument("--huge-mb", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmhub-abuse-") as folder:
        workdir = Path(folder)
        emulator = start_emulator(workdir)
        hub = start_hub(workdir, emulator)
        try:
            with HealthProbe(hub.url) as rest:
                time.sleep(2)
            baseline = statistics.median(rest.times)
            rows = [many_messages(hub, args.messages), large_body(hub, args.large_mb), chunked_body(hub, args.huge_mb), budget_burst(hub)]
            killed, hub = kill_under_load(workdir, emulator, hub)
            rows.append(killed)
        finally:
            hub.stop()
            emulator.stop()
    print(table(rows, baseline))


if __name__ == "__main__":
    main()

"""``python run.py --workers 2``: refused without Redis; with it, a foreground parent of two workers on
one port, and SIGTERM to the parent stops both after they flush their usage."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

from tests.cluster.conftest import RedisUnderTest
from tests.conftest import MASTER_KEY, ROOT, child_env, free_port, start_app
from tests.factories import wait_until
from tests.upstream_emulator import EmulatorHandle

CONFIG = """
providers:
  - name: emu
    kind: openai
    base_url: {url}/v1
    keys:
      - label: main
        secret: ok#workers-1
models:
  - name: smart
    routes:
      - provider: emu
        model: gpt-4o
"""
READY = "LLM Hub is ready"  # each worker logs it once it serves


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def call(url: str) -> int:
    """A chat call on a connection of its own (so the kernel may hand it to either worker)."""
    body = {"model": "smart", "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=10).status_code


def test_workers_are_refused_without_redis(tmp_path: Path) -> None:
    finished = subprocess.run([sys.executable, str(ROOT / "run.py"), "--workers", "2", "--port", str(free_port())], cwd=ROOT,
                              env=child_env(LLMHUB_DATA_DIR=str(tmp_path / "data")), capture_output=True, timeout=60)
    assert finished.returncode == 2
    assert b"--workers 2 (LLMHUB_WORKERS) needs LLMHUB_REDIS_URL" in finished.stderr


def test_two_workers_serve_one_port_and_stop_with_their_parent(tmp_path: Path, emulator: EmulatorHandle,
                                                               test_redis: RedisUnderTest) -> None:
    config = tmp_path / "llmhub.yaml"
    config.write_text(CONFIG.format(url=emulator.url))
    app = start_app(tmp_path / "data", config=config,
                    env={"LLMHUB_WORKERS": "2", "LLMHUB_REDIS_URL": test_redis.url, "LLMHUB_REDIS_PREFIX": test_redis.prefix})
    try:
        workers = wait_until(lambda: children(app.process.pid) if len(children(app.process.pid)) == 2 else None, "two workers")
        wait_until(lambda: app.log().count(READY) == 2, "both workers ready")
        for _ in range(10):
            assert call(app.url) == 200
        os.kill(workers[0], signal.SIGKILL)  # the other worker serves on at once, and the parent starts a new one
        for _ in range(10):
            assert call(app.url) == 200
        wait_until(lambda: len(children(app.process.pid)) == 2 and workers[0] not in children(app.process.pid), "a new worker")
        wait_until(lambda: app.log().count(READY) == 3, "the new worker ready")
        workers = children(app.process.pid)
        app.process.send_signal(signal.SIGTERM)
        assert app.process.wait(40) == 0
    finally:
        app.stop()
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    with sqlite3.connect(tmp_path / "data" / "llmhub.db") as db:
        assert db.execute("select count(*) from usagerecord where status = 'ok'").fetchone()[0] == 20  # every worker flushed

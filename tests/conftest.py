"""Shared fixtures: the upstream emulator and LLM Hub itself as a real subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from services.hub import Hub

ROOT = Path(__file__).resolve().parent.parent
MASTER_KEY = "sk-test-master-key-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess: no pytest or NiceGUI test variables (they confuse NiceGUI)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST" and not k.startswith(("NICEGUI_", "LLMHUB_"))}
    env.update(extra)
    return env


@dataclass
class RunningApp:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(self, token: str = MASTER_KEY, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=10, **kwargs)  # type: ignore[arg-type]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_app(data_dir: Path, *, config: Path | None = None, env: dict[str, str] | None = None, wait: bool = True) -> RunningApp:
    port = free_port()
    log_path = data_dir.parent / f"app-{port}.log"
    variables = child_env(LLMHUB_PORT=str(port), LLMHUB_DATA_DIR=str(data_dir), LLMHUB_MASTER_KEY=MASTER_KEY, **(env or {}))
    if config is not None:
        variables["LLMHUB_CONFIG"] = str(config)
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, str(ROOT / "run.py")], cwd=ROOT, env=variables, stdout=log, stderr=subprocess.STDOUT)
    app = RunningApp(f"http://127.0.0.1:{port}", data_dir, process, log_path)
    if wait:
        wait_until_up(app)
    return app


def wait_until_up(app: RunningApp, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.process.poll() is not None:
            raise RuntimeError(f"LLM Hub exited with {app.process.returncode}:\n{app.log()}")
        try:
            if httpx.get(app.url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    app.stop()
    raise RuntimeError(f"LLM Hub did not come up:\n{app.log()}")


@contextmanager
def local_hub(data_dir: Path, **options: Any) -> Iterator[Hub]:
    """An in-process Hub (no server) on ``data_dir``; ``options`` go to ``Hub`` (e.g. ``clock``).
    Its database engine is disposed afterwards."""
    from services.hub import Hub, HubOptions

    hub = Hub(HubOptions(data_dir=data_dir), **options)
    try:
        yield hub
    finally:
        hub.engine.dispose()


@pytest.fixture(scope="session")
def emulator():  # type: ignore[no-untyped-def]
    from tests.upstream_emulator import start_emulator

    handle = start_emulator()
    yield handle
    handle.stop()


@pytest.fixture
def app_factory(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    """Start LLM Hub subprocesses on fresh data dirs; all are stopped after the test."""
    started: list[RunningApp] = []

    def factory(*, config: Path | None = None, env: dict[str, str] | None = None, data_dir: Path | None = None) -> RunningApp:
        app = start_app(data_dir or tmp_path / f"data{len(started)}", config=config, env=env)
        started.append(app)
        return app

    yield factory
    for app in started:
        app.stop()

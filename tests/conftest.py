"""Shared fixtures: the upstream emulator and LLM Hub itself as a real subprocess. The builders tests
share (hubs on a config, people, usage data, waiting) are in ``tests.factories``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests import databases

if TYPE_CHECKING:
    import openai

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

    def sdk(self, token: str = MASTER_KEY) -> openai.OpenAI:
        """The official OpenAI client on this hub's ``/v1``, without retries (a test sees the first answer)."""
        import openai

        return openai.OpenAI(base_url=self.url + "/v1", api_key=token, max_retries=0)

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
    variables = child_env(LLMHUB_PORT=str(port), LLMHUB_DATA_DIR=str(data_dir), LLMHUB_MASTER_KEY=MASTER_KEY,
                          **databases.CURRENT.env(), **(env or {}))
    if config is not None:
        variables["LLMHUB_CONFIG"] = str(config)
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, str(ROOT / "run.py")], cwd=ROOT, env=variables, stdout=log, stderr=subprocess.STDOUT)
    app = RunningApp(f"http://127.0.0.1:{port}", data_dir, process, log_path)
    if wait:
        wait_until_up(app)
    return app


def wait_until_up(app: RunningApp) -> None:
    """Until ``/health`` answers (see ``tests.factories.wait_until`` for how long); fails with the app's log."""
    from tests.factories import wait_until

    def healthy() -> bool:
        if app.process.poll() is not None:
            raise RuntimeError(f"LLM Hub exited with {app.process.returncode}:\n{app.log()}")
        try:
            return httpx.get(app.url + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(healthy, f"LLM Hub at {app.url} to answer /health")
    except pytest.fail.Exception:
        app.stop()
        raise RuntimeError(f"LLM Hub did not come up:\n{app.log()}") from None


@pytest.fixture(scope="session")
def emulator():  # type: ignore[no-untyped-def]
    from tests.upstream_emulator import start_emulator

    handle = start_emulator()
    yield handle
    handle.stop()


@pytest.fixture(scope="module", params=databases.BACKENDS)
def database_backend(request: pytest.FixtureRequest) -> Iterator[databases.DatabaseUnderTest]:
    """Runs a module's tests once on SQLite and once on PostgreSQL (a scratch database for the module): the
    hubs, engines and hub processes ``tests.factories`` makes open it. A domain's conftest uses it
    autouse to run its whole suite on both."""
    with databases.test_database(request.param) as database:
        yield database


@pytest.fixture
def fresh_app(tmp_path: Path) -> Iterator[RunningApp]:
    """LLM Hub as a subprocess on a new, empty data dir (its first run: no admin, no catalog); stopped after the test."""
    from tests.factories import hub_process

    with hub_process(tmp_path) as app:
        yield app

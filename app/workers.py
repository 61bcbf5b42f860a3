"""``python run.py --workers N``: one parent in the foreground, N worker processes serving one port.

The parent binds and listens on the port itself, then starts each worker as ``python run.py`` with the
same arguments and ``LLMHUB_WORKER_FD`` naming the inherited socket; the workers accept from that one
socket (the pre-fork model of gunicorn and ``uvicorn --workers``). Why not SO_REUSEPORT: the port stays
bound by the parent for as long as the hub runs, a worker restarted after a crash takes up the same
socket, and no other process can join the port by setting the option too.

The first worker starts alone and the others once it answers ``/health``: it migrates the database
and applies the config file, so the rest find both done. A worker that dies is started again after
``RESTART_SECONDS``. SIGTERM or SIGINT to the parent sends SIGTERM to every worker (each stops
gracefully, flushing its usage) and waits ``STOP_SECONDS`` for them before killing what is left.
Workers share state through Redis (``services.cluster``), so ``--workers`` needs ``LLMHUB_REDIS_URL``.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from app.settings import Settings, SettingsError

log = logging.getLogger("llmhub.workers")

WORKER_FD = "LLMHUB_WORKER_FD"
READY_SECONDS = 120.0
RESTART_SECONDS = 1.0
STOP_SECONDS = 30.0
PR_SET_PDEATHSIG = 1
STARTUP_REFUSED = 2  # run.py's exit status for a configuration it cannot start with: restarting will not help
LOOPBACK = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}


def inherited_socket_fd() -> int | None:
    """In a worker: the listening socket its parent handed down."""
    value = os.environ.get(WORKER_FD)
    return int(value) if value else None


def check_workers(settings: Settings) -> None:
    if settings.workers > 1 and not settings.redis_url:
        raise SettingsError(f"--workers {settings.workers} (LLMHUB_WORKERS) needs LLMHUB_REDIS_URL: the workers share "
                            "cooldowns, rate limits, budgets and sign-ins through Redis")


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SettingsError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when the parent dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class WorkerPool:
    def __init__(self, settings: Settings, argv: list[str], sock: socket.socket) -> None:
        self.settings = settings
        self.command = [sys.executable, str(Path(__file__).resolve().parent.parent / "run.py"), *argv]
        self.sock = sock
        self.workers: list[subprocess.Popen[bytes] | None] = [None] * settings.workers
        self.stopping = False

    def start_worker(self, index: int) -> None:
        env = {**os.environ, WORKER_FD: str(self.sock.fileno()), "LLMHUB_WORKER_INDEX": str(index)}
        self.workers[index] = subprocess.Popen(self.command, env=env, pass_fds=(self.sock.fileno(),),
                                               preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        log.info("worker %d started (pid %d)", index + 1, self.workers[index].pid)  # type: ignore[union-attr]

    def wait_ready(self) -> bool:
        host = LOOPBACK.get(self.settings.host, self.settings.host)
        url = f"http://{f'[{host}]' if ':' in host else host}:{self.settings.port}/health"
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline and not self.stopping:
            first = self.workers[0]
            if first is None or first.poll() is not None:
                return False
            with contextlib.suppress(urllib.error.URLError, OSError), urllib.request.urlopen(url, timeout=2):
                return True
            time.sleep(0.2)
        return False

    def stop(self, *_signal: object) -> None:
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        self.start_worker(0)
        if not self.wait_ready():
            log.error("the first worker did not start; stopping")
            self.stopping = True
        else:
            for index in range(1, len(self.workers)):
                self.start_worker(index)
        while not self.stopping:
            self._restart_dead()
            time.sleep(RESTART_SECONDS)
        return self._stop_all()

    def _restart_dead(self) -> None:
        for index, worker in enumerate(self.workers):
            if worker is not None and worker.poll() == STARTUP_REFUSED:
                log.error("worker %d refused to start (see its message); stopping", index + 1)
                self.stopping = True
            if worker is not None and worker.poll() is not None and not self.stopping:
                log.warning("worker %d (pid %d) exited with %s; starting it again", index + 1, worker.pid, worker.returncode)
                self.start_worker(index)

    def _stop_all(self) -> int:
        alive = [w for w in self.workers if w is not None and w.poll() is None]
        for worker in alive:
            worker.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for worker in alive:
            try:
                worker.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker pid %d did not stop in %.0f s; killed", worker.pid, STOP_SECONDS)
                worker.kill()
                worker.wait()
        self.sock.close()
        return 0


def run_workers(settings: Settings, argv: list[str]) -> int:
    """The parent of ``settings.workers`` workers, in the foreground until SIGTERM/SIGINT."""
    check_workers(settings)
    sock = listening_socket(settings.host, settings.port)
    log.info("LLM Hub: %d workers on %s:%d", settings.workers, settings.host, settings.port)
    return WorkerPool(settings, argv, sock).run()

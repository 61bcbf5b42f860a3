"""Real clients through LLM Hub: each is installed from the npm registry, pointed at a hub that routes
to the upstream emulator, and given one non-interactive prompt; what it printed and what the hub
recorded of its calls are shown.

    python bench/real_clients.py [--clients claude-code] [--npm-cache DIR]

Not part of the test run: the clients are downloaded (Claude Code is ~300 MB with its native part)
into ``--npm-cache`` (default ``$LLMHUB_NPM_CACHE`` or ``~/.cache/llmhub-npm``), never into the
repository. Every client is run once per logical model in ``MODELS``: relayed natively to an
Anthropic route, or translated to an OpenAI route, each with and without a tool round trip. A client is one function in ``CLIENTS``
that takes the hub and a model and returns the command's output.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import MASTER_KEY, RunningApp, child_env  # noqa: E402
from tests.factories import hub_process  # noqa: E402
from tests.upstream_emulator import start_emulator  # noqa: E402

CONFIG = """
providers:
  - name: emu-anthropic
    kind: anthropic
    base_url: {url}
    keys: [{{label: main, secret: "ok#claude-code"}}]
  - name: emu-openai
    kind: openai
    base_url: {url}/v1
    keys: [{{label: main, secret: "ok#real-clients"}}]
models:
  - name: claude-native
    routes: [{{provider: emu-anthropic, model: claude-sonnet-4-5}}]
  - name: gpt-translated
    routes: [{{provider: emu-openai, model: gpt-4o}}]
  - name: claude-native-tools
    routes: [{{provider: emu-anthropic, model: "claude-sonnet-4-5@tool-use"}}]
  - name: gpt-translated-tools
    routes: [{{provider: emu-openai, model: "gpt-4o@tool-use"}}]
"""
MODELS = ("claude-native", "gpt-translated", "claude-native-tools", "gpt-translated-tools")
"""The ``-tools`` models answer with a call of the client's first tool (the emulator's ``tool-use``), so the
client runs a tool round trip: its tool result (here, the tool refusing the emulator's made-up input)
goes back through the hub, and the answer echoes it."""
PROMPT = "say hi"
TIMEOUT_S = 180
USAGE_WAIT_S = 10.0


@dataclass(frozen=True, slots=True)
class ClientRun:
    client: str
    model: str
    returncode: int
    output: str


def npm_cache() -> Path:
    return Path(os.environ.get("LLMHUB_NPM_CACHE") or Path.home() / ".cache" / "llmhub-npm")


def npm_bin(package: str, command: str, cache: Path) -> Path:
    """``command`` of ``package``, installed into ``cache`` from the npm registry unless it is there already."""
    binary = cache / "node_modules" / ".bin" / command
    if not binary.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--prefix", str(cache), "--no-audit", "--no-fund", package], check=True)
    return binary


def run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
    return done.returncode, (done.stdout + done.stderr).strip()


def claude_code(hub: RunningApp, model: str, cache: Path, home: Path) -> tuple[int, str]:
    """``claude -p`` with the environment FIELD-NOTES gives (its own HOME, no telemetry), every model
    it may pick (the small fast one too) pointed at ``model``."""
    claude = npm_bin("@anthropic-ai/claude-code", "claude", cache)
    env = child_env(
        HOME=str(home), ANTHROPIC_BASE_URL=hub.url, ANTHROPIC_API_KEY=MASTER_KEY, DISABLE_TELEMETRY="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1", ANTHROPIC_SMALL_FAST_MODEL=model, ANTHROPIC_DEFAULT_HAIKU_MODEL=model,
    )
    return run([str(claude), "-p", PROMPT, "--model", model], env, home)


CLIENTS: dict[str, Callable[[RunningApp, str, Path, Path], tuple[int, str]]] = {"claude-code": claude_code}


def usage_rows(hub: RunningApp) -> list[dict[str, Any]]:
    with hub.client() as admin:
        rows: list[dict[str, Any]] = admin.get("/api/usage", params={"limit": 1000}).json()["data"]
    return rows


def hub_calls(hub: RunningApp, since: int) -> list[str]:
    """The hub's usage records after the first ``since``, oldest first, one line each. They are written
    in batches a moment after the calls: wait for the first, then for a batch more."""
    deadline = time.monotonic() + USAGE_WAIT_S
    while len(usage_rows(hub)) <= since and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(USAGE_WAIT_S / 5)
    rows = usage_rows(hub)
    return [
        f"  {row['endpoint']:<13} {row['requested_model']:<15} → {row['provider_name']}/{row['upstream_model']}  "
        f"{row['status']:<6} stream={row['stream']!s:<5} tokens {row['prompt_tokens']}+{row['completion_tokens']}"
        for row in reversed(rows[: max(0, len(rows) - since)])
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default=",".join(CLIENTS), help=f"comma-separated, of: {', '.join(CLIENTS)}")
    parser.add_argument("--npm-cache", type=Path, default=npm_cache(), help="where the npm packages are installed")
    args = parser.parse_args(argv)
    emulator = start_emulator()
    failures = 0
    try:
        with tempfile.TemporaryDirectory(prefix="llmhub-real-clients-") as folder, hub_process(Path(folder), CONFIG, emulator) as hub:
            for name in args.clients.split(","):
                for model in MODELS:
                    before = len(usage_rows(hub))
                    home = Path(folder) / f"home-{name}-{model}"
                    home.mkdir()
                    code, output = CLIENTS[name](hub, model, args.npm_cache, home)
                    failures += code != 0
                    print(f"## {name} --model {model}: exit {code}\n{output}\nhub calls:")
                    print("\n".join(hub_calls(hub, before)) or "  (none)", end="\n\n")
    finally:
        emulator.stop()
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Gateway overhead benchmark: LLM Hub against calling the upstream directly, a bare passthrough
proxy and (when it can be installed) a LiteLLM proxy, all in front of the same zero-delay emulator.

    python bench/gateway.py [--duration 5] [--warmup 1] [--rounds 1] [--no-litellm] [--redis-url URL] [--database-url URL]

Load comes from ``wrk`` (one thread, a Lua script for the POST body); each row is a 1 s warm-up
then a measured run. On a machine with two or more CPUs the server being measured owns CPU 0 and
everything else (this script, ``wrk``, the emulator) shares CPU 1. A second check opens N
concurrent streams at once against slow-starting upstream answers and looks for stalls. The
result is one Markdown table, the stream check's table and the targets as PASS/MISS lines.

This VM's speed drifts by up to ±20 % within minutes. So rows are measured row by row, every
target in turn, LLM Hub right next to the passthrough (first one, then the other), and ``--rounds N``
repeats that N times: the table shows each row's median, and the share of the passthrough's
throughput is the median of the rounds' own shares (each a pair measured side by side), which drift
moves least.

Several instances: ``LLM Hub + Redis`` is the hub with ``LLMHUB_REDIS_URL`` (and ``LLMHUB_DATABASE_URL``
when ``--database-url`` is given), driven with the master key (no limits: the shared state is in the
background only); ``… (rpm token)`` is the same server driven with a token that has an rpm limit and
a budget (each call takes a round trip to Redis for its window and its reservation); ``LLM Hub
--workers 2`` is two workers on one port (pinned together, so on this VM they share the SUT CPU).
The rows are skipped when Redis does not answer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import uvloop
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import child_env, free_port  # noqa: E402  (no pytest, NiceGUI or LLM Hub variables leak into a server)
from tests.emulator_vertex import throwaway_service_account  # noqa: E402

CHAT_PATH = "/v1/chat/completions"
MESSAGES_PATH = "/v1/messages"
RESPONSES_PATH = "/v1/responses"
STREAM_ENDS = {CHAT_PATH: b"data: [DONE]", MESSAGES_PATH: b"event: message_stop", RESPONSES_PATH: b"event: response.completed"}
"""How a whole stream of each API ends (the bench body is both a chat and a Messages body; a Responses one of its own)."""
PROMPT = "Hello there, please tell me a short story about a fox"
BEDROCK_MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
STREAM_PROMPT = " ".join(["word"] * 40)
CONCURRENCIES = (1, 32)
MODES = ("non-stream", "stream")
DIRECT = "emulator direct"
HUB = "LLM Hub"
PEER = "LiteLLM"
BASELINE = "passthrough"  # the bare proxy on LLM Hub's own stack (its upstream client): ratios use it
DIRECT_MESSAGES = "emulator direct (messages)"
BASELINE_MESSAGES = "passthrough (messages)"
HUB_NATIVE = "LLM Hub messages (native)"  # /v1/messages relayed to an anthropic route
HUB_TRANSLATED = "LLM Hub messages (→ openai)"  # /v1/messages translated to an openai route
DIRECT_RESPONSES = "emulator direct (responses)"
BASELINE_RESPONSES = "passthrough (responses)"
HUB_RESPONSES_NATIVE = "LLM Hub responses (native)"  # /v1/responses relayed to an openai route
HUB_RESPONSES_TRANSLATED = "LLM Hub responses (→ anthropic)"  # /v1/responses translated to an anthropic route
HUB_REDIS = "LLM Hub + Redis"
HUB_REDIS_LIMITED = "LLM Hub + Redis (rpm token)"
HUB_WORKERS = "LLM Hub --workers 2"
SHARED_STATE_TARGET_MS = 0.3  # what the shared state may add to LLM Hub's p50 at c=1
MESSAGES_ROWS = {HUB_NATIVE: DIRECT_MESSAGES, HUB_TRANSLATED: DIRECT}
"""The /v1/messages rows of LLM Hub and the emulator-direct row their added latency is taken against
(the API their upstream answers); both are paired with the messages passthrough."""
RESPONSES_ROWS = {HUB_RESPONSES_NATIVE: DIRECT_RESPONSES, HUB_RESPONSES_TRANSLATED: DIRECT_MESSAGES}
"""The same for /v1/responses, paired with the responses passthrough."""
CLOUD_ROWS = {f"LLM Hub chat (→ {kind})": f"bench-{kind}" for kind in ("azure", "bedrock", "vertex")}
"""Chat completions translated to each cloud kind (Azure's deployment paths, Bedrock's Converse with SigV4
and its binary event stream, Gemini on Vertex with a service-account token), and the model each asks for."""
MESSAGES_TARGETS = {BASELINE: (BASELINE_MESSAGES, BASELINE_RESPONSES),
                    HUB: (HUB_NATIVE, HUB_TRANSLATED, HUB_RESPONSES_NATIVE, HUB_RESPONSES_TRANSLATED, *CLOUD_ROWS)}
"""The rows of another API (/v1/messages, /v1/responses) or another upstream (the clouds) a started server also serves."""
CLUSTER_TARGETS = {HUB_REDIS: (HUB_REDIS_LIMITED,)}
"""A row driven through another started server with another token."""
ROW_PATHS = {**dict.fromkeys((BASELINE_MESSAGES, HUB_NATIVE, HUB_TRANSLATED), MESSAGES_PATH),
             **dict.fromkeys((BASELINE_RESPONSES, HUB_RESPONSES_NATIVE, HUB_RESPONSES_TRANSLATED), RESPONSES_PATH)}
ROW_MODELS = {HUB_NATIVE: "bench-claude", HUB_RESPONSES_TRANSLATED: "bench-claude", **CLOUD_ROWS}
"""The model a row asks for where it is not its server's usual one."""
PASSTHROUGHS = {  # row name → bench/passthrough.py --client
    BASELINE: "hub",
    "passthrough (httpx API)": "httpx",  # the same client through httpx's interface: what its models cost
    "passthrough (httpcore)": "httpcore",  # httpx on its own transport: LLM Hub's upstream client before
}
ALLOWED_CPUS = sorted(os.sched_getaffinity(0))
PINNING = len(ALLOWED_CPUS) >= 2 and shutil.which("taskset") is not None
SUT_CPUS = set(ALLOWED_CPUS[:1])  # the server being measured, alone
LOAD_CPUS = set(ALLOWED_CPUS[1:2])  # wrk, the emulator (unless measured itself) and this script
STALL_SLACK_S = 1.0
STREAM_TIMEOUT_S = 30.0
QUIET_BUSY = 0.10
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LITELLM_START_TIMEOUT_S = 90.0
LITELLM_INSTALL_TIMEOUT_S = 900.0


# ----------------------------------------------------------------------------- processes


def pin_tree(pid: int, cpus: set[int]) -> None:
    """Move every thread of a process and of its children onto ``cpus`` (like ``taskset -a -p``)."""
    if not PINNING:
        return
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), cpus)
            children = (task / "children").read_text().split()
        except (ProcessLookupError, FileNotFoundError):
            continue
        for child in children:
            pin_tree(int(child), cpus)


@dataclass(frozen=True)
class CpuSample:
    """Clock ticks: all CPUs busy, all CPUs in total, and the part used by the benchmark's own processes."""

    busy: int
    total: int
    ours: int


def process_ticks(pid: int) -> int:
    """CPU ticks of a process and its living descendants (the workers of ``--workers``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return int(fields[11]) + int(fields[12]) + sum(process_ticks(int(child)) for child in children)  # utime + stime


def cpu_sample(pids: tuple[int, ...]) -> CpuSample:
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    own = os.times()  # this script plus the wrk runs it has waited for
    ours = sum(map(process_ticks, pids)) + round((own.user + own.system + own.children_user + own.children_system) * CLOCK_TICKS)
    return CpuSample(sum(ticks) - ticks[3] - ticks[4], sum(ticks), ours)


def foreign_share(before: CpuSample, after: CpuSample) -> float:
    """The share of all CPUs that other work on the machine used between two samples."""
    foreign = (after.busy - before.busy) - (after.ours - before.ours)
    return max(0.0, foreign / max(1, after.total - before.total))


def cpu_busy(seconds: float) -> float:
    before = cpu_sample(())
    time.sleep(seconds)
    return foreign_share(before, cpu_sample(()))


def wait_for_quiet(limit_s: float) -> float:
    """Benchmarks on a shared machine lie: wait (up to ``limit_s``) until other work has stopped."""
    deadline = time.monotonic() + limit_s
    busy = cpu_busy(1.0)
    while busy > QUIET_BUSY and time.monotonic() < deadline:
        print(f"waiting for a quiet machine ({busy:.0%} busy) ...", file=sys.stderr, flush=True)
        busy = cpu_busy(2.0)
    return busy


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class TargetError(Exception):
    """A target could not be started or measured; the message says why in one line, ``detail`` shows its log."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


def launch(name: str, argv: list[str], port: int, workdir: Path, *, sut: bool, env: dict[str, str] | None = None) -> Server:
    """Start a server; one under test is started pinned to the system-under-test CPU."""
    log_path = workdir / f"{name.lower().replace(' ', '-')}.log"
    prefix = ["taskset", "-c", ",".join(map(str, sorted(SUT_CPUS)))] if sut and PINNING else []
    with log_path.open("wb") as log:
        process = subprocess.Popen([*prefix, *argv], cwd=ROOT, env=env or child_env(), stdout=log, stderr=subprocess.STDOUT)
    return Server(name, f"http://127.0.0.1:{port}", process, log_path)


def wait_ready(server: Server, path: str, timeout: float, headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log_tail()
            raise TargetError(f"exited with {server.process.returncode}: {(tail.splitlines() or [''])[-1]}", tail)
        try:
            if httpx.get(server.url + path, headers=headers, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise TargetError(f"did not answer {path} within {timeout:.0f} s", server.log_tail())


# ----------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """Something to drive: a base URL plus the token and model for fast and slow-starting answers."""

    name: str
    url: str
    pid: int
    token: str
    model: str
    slow_token: str
    slow_model: str
    path: str = CHAT_PATH


def start_emulator(workdir: Path) -> Server:
    port = free_port()
    server = launch("emulator", [sys.executable, "-m", "tests.upstream_emulator", "--port", str(port)], port, workdir, sut=False)
    wait_ready(server, "/v1/models", 20, {"Authorization": "Bearer ok"})
    return server


def start_passthrough(workdir: Path, emulator: Server, client: str) -> Server:
    port = free_port()
    argv = [sys.executable, "bench/passthrough.py", "--port", str(port), "--upstream", emulator.url, "--client", client]
    server = launch(f"passthrough-{client}", argv, port, workdir, sut=True)
    wait_ready(server, "/health", 20)
    return server


def llmhub_config(emulator: Server, slow_key: str) -> dict[str, object]:
    def provider(name: str, secret: str) -> dict[str, object]:
        return {"name": name, "kind": "openai", "base_url": emulator.url + "/v1", "keys": [{"label": "bench", "secret": secret}]}

    def model(name: str, provider_name: str, upstream: str = "gpt-4o") -> dict[str, object]:
        return {"name": name, "routes": [{"provider": provider_name, "model": upstream, "priority": 1}]}

    anthropic = {"name": "emu-anthropic", "kind": "anthropic", "base_url": emulator.url, "keys": [{"label": "bench", "secret": "ok#bench"}]}
    return {
        "providers": [provider("emu", "ok#bench"), provider("emu-slow", slow_key + "#bench"), anthropic, *cloud_providers(emulator)],
        "models": [model("bench", "emu"), model("bench-slow", "emu-slow"), model("bench-claude", "emu-anthropic", "claude-sonnet-4-5"),
                   model("bench-azure", "emu-azure", "gpt-4o"), model("bench-bedrock", "emu-bedrock", BEDROCK_MODEL),
                   model("bench-vertex", "emu-vertex", "gemini-2.5-flash")],
    }


def cloud_providers(emulator: Server) -> list[dict[str, object]]:
    """Azure (api-key), Bedrock (SigV4: the emulator knows ``secret-<access key id>``) and Vertex (a throwaway
    service account, registered with the emulator, whose token the hub mints at the emulator's /token)."""
    account = throwaway_service_account("bench@bench-project.iam.gserviceaccount.com", emulator.url)
    return [
        {"name": "emu-azure", "kind": "azure", "base_url": emulator.url, "keys": [{"label": "bench", "secret": "ok#bench-azure"}]},
        {"name": "emu-bedrock", "kind": "bedrock", "base_url": emulator.url, "options": {"region": "us-east-1"},
         "keys": [{"label": "bench", "secret": "AKIDBENCH:secret-AKIDBENCH"}]},
        {"name": "emu-vertex", "kind": "vertex", "base_url": emulator.url,
         "options": {"project": "bench-project", "location": "us-central1", "token_url": emulator.url + "/token"},
         "keys": [{"label": "bench", "secret": json.dumps(account)}]},
    ]


def start_llmhub(workdir: Path, emulator: Server, slow_key: str, master_key: str, name: str = HUB, **extra: str) -> Server:
    """LLM Hub on a data dir of its own; ``extra`` are more ``LLMHUB_*`` variables (Redis, database, workers)."""
    port = free_port()
    config = workdir / "llmhub.yaml"
    config.write_text(json.dumps(llmhub_config(emulator, slow_key), indent=2))  # JSON is YAML
    data_dir = workdir / ("llmhub-data-" + name.lower().replace(" ", "-").replace("+", "").replace("-", ""))
    env = child_env(LLMHUB_PORT=str(port), LLMHUB_DATA_DIR=str(data_dir), LLMHUB_MASTER_KEY=master_key, LLMHUB_CONFIG=str(config),
                    **extra)
    server = launch(name, [sys.executable, "run.py"], port, workdir, sut=True, env=env)
    wait_ready(server, "/health", 90)
    return server


CLUSTER_SECRET_KEY = Fernet.generate_key().decode()
"""The several-instance rows' shared secret key: with ``--database-url`` their hubs open one database, and
an instance whose key cannot decrypt the stored provider keys refuses to start (as the README says)."""


def cluster_env(args: argparse.Namespace, prefix: str, **more: str) -> dict[str, str]:
    env = {"LLMHUB_REDIS_URL": args.redis_url, "LLMHUB_REDIS_PREFIX": prefix, "LLMHUB_SECRET_KEY": CLUSTER_SECRET_KEY, **more}
    return {**env, "LLMHUB_DATABASE_URL": args.database_url} if args.database_url else env


def limited_token(target: Target) -> Target:
    """The same server driven with a token that has an rpm limit and a budget (both never reached)."""
    headers = {"Authorization": f"Bearer {target.token}"}
    with httpx.Client(base_url=target.url, headers=headers, timeout=10) as admin:
        user = admin.post("/api/users", json={"email": f"bench-{secrets.token_hex(3)}@example.com", "password": secrets.token_hex(8)})
        limits = {"rpm": 10**9, "monthly_budget_usd": "1000000"}
        token = admin.post("/api/tokens", json={"name": "bench", "user_id": user.json()["id"], **limits})
    if token.status_code != 201:
        raise TargetError(f"no limited token: {token.status_code}", token.text)
    raw = token.json()["token"]
    return replace(target, name=HUB_REDIS_LIMITED, token=raw, slow_token=raw)


def forget_redis_keys(url: str, prefix: str) -> None:
    import redis

    with contextlib.suppress(redis.RedisError), redis.Redis.from_url(url) as client:
        for key in client.scan_iter(match=prefix + "*"):
            client.delete(key)


def litellm_venv() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return Path(os.environ.get("LLMHUB_BENCH_LITELLM_VENV", cache / "llmhub-bench" / "litellm-venv"))


def ensure_litellm(venv: Path) -> Path:
    """The ``litellm`` executable of its own virtualenv (it pins other SDK versions than ours)."""
    executable = venv / "bin" / "litellm"
    if executable.exists():
        return executable
    print(f"installing litellm[proxy] into {venv} (once) ...", file=sys.stderr, flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
        pip = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "litellm[proxy]"],
            capture_output=True, text=True, timeout=LITELLM_INSTALL_TIMEOUT_S,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        raise TargetError(f"could not install litellm[proxy]: {exc}") from None
    if pip.returncode != 0 or not executable.exists():
        last = (pip.stderr or pip.stdout).strip().splitlines()[-1:] or ["no output"]
        raise TargetError(f"pip install litellm[proxy] failed: {last[0]}")
    return executable


def start_litellm(workdir: Path, emulator: Server, slow_key: str, master_key: str) -> Server:
    executable = ensure_litellm(litellm_venv())

    def model(name: str, key: str) -> dict[str, object]:
        return {"model_name": name, "litellm_params": {"model": "openai/gpt-4o", "api_base": emulator.url + "/v1", "api_key": key}}

    config = workdir / "litellm.yaml"
    config.write_text(json.dumps({"model_list": [model("gpt-4o", "ok"), model("gpt-4o-slow", slow_key)]}, indent=2))
    port = free_port()
    env = child_env(LITELLM_MASTER_KEY=master_key, LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_LOG="ERROR")
    argv = [str(executable), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    server = launch(PEER, argv, port, workdir, sut=True, env=env)
    wait_ready(server, "/health/liveliness", LITELLM_START_TIMEOUT_S)
    return server


def chat_body(model: str, *, stream: bool, prompt: str = PROMPT, path: str = CHAT_PATH) -> bytes:
    """The bench request: a chat (and Messages) body, or for the Responses API its own."""
    body: dict[str, object] = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 64}
    if path == RESPONSES_PATH:
        body = {"model": model, "input": prompt, "max_output_tokens": 64}
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":")).encode()


def smoke(target: Target) -> None:
    """One JSON and one streamed call must both answer 200 before a target is measured."""
    headers = {"Authorization": f"Bearer {target.token}", "Content-Type": "application/json"}
    for stream in (False, True):
        body = chat_body(target.model, stream=stream, path=target.path)
        response = httpx.post(target.url + target.path, content=body, headers=headers, timeout=30)
        if response.status_code != 200 or (stream and STREAM_ENDS[target.path] not in response.content):
            raise TargetError(f"{'stream' if stream else 'chat'} call answered {response.status_code}: {response.text[:300]}")


# ----------------------------------------------------------------------------- load (wrk)


@dataclass(frozen=True)
class LoadResult:
    target: str
    mode: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    noise: float  # the share of all CPUs that other work used meanwhile
    cpu_us: float  # the target's own CPU time (user + system, all its threads) per request
    round: int = 1


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [==[%(body)s]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status + e.connect + e.read + e.write + e.timeout))
end
"""


def run_wrk(target: Target, stream: bool, concurrency: int, seconds: int, workdir: Path, metered: tuple[int, ...]) -> LoadResult:
    script = workdir / f"wrk-{secrets.token_hex(4)}.lua"
    script.write_text(WRK_SCRIPT % {"body": chat_body(target.model, stream=stream, path=target.path).decode(), "token": target.token})
    argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), target.url + target.path]
    before, own_before = cpu_sample(metered), process_ticks(target.pid)
    try:
        output = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    except subprocess.TimeoutExpired:
        raise TargetError(f"wrk did not finish a {seconds} s run") from None
    noise = foreign_share(before, cpu_sample(metered))
    own_ticks = process_ticks(target.pid) - own_before
    line = next((line for line in output.splitlines() if line.startswith("BENCH ")), None)
    if line is None:
        raise TargetError("wrk printed no summary", output)
    requests, duration_us, p50_us, p99_us, errors = map(int, line.split()[1:])
    mode = MODES[stream]
    rps = requests / (duration_us / 1e6)
    cpu_us = own_ticks / CLOCK_TICKS / max(1, requests) * 1e6
    return LoadResult(target.name, mode, concurrency, rps, p50_us / 1000, p99_us / 1000, errors, requests, noise, cpu_us)


def measured_row(
    target: Target, stream: bool, concurrency: int, args: argparse.Namespace, workdir: Path, metered: tuple[int, ...]
) -> LoadResult:
    """One row; run again (up to ``--retries`` times, after waiting for quiet) while other work disturbed it,
    keeping the quietest run."""
    best: LoadResult | None = None
    for attempt in range(1 + args.retries):
        if attempt:
            wait_for_quiet(args.wait_quiet)
        run_wrk(target, stream, concurrency, args.warmup, workdir, metered)
        result = run_wrk(target, stream, concurrency, args.duration, workdir, metered)
        print(
            f"  {target.name:21} {result.mode:10} c={concurrency:<3} {result.rps:7.0f} req/s  p50 {result.p50_ms:6.2f} ms"
            f"  (other work {result.noise:.0%})",
            file=sys.stderr, flush=True,
        )
        best = result if best is None or result.noise < best.noise else best
        if best.noise <= QUIET_BUSY:
            break
    assert best is not None
    return best


# ----------------------------------------------------------------------------- concurrent streams


@dataclass
class StreamTrace:
    status: int = 0
    done: bool = False
    error: str = ""
    first_chunk_s: float | None = None
    max_gap_s: float = 0.0
    chunks: int = 0


@dataclass
class StreamCheck:
    target: str
    traces: list[StreamTrace] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def completed(self) -> int:
        return sum(1 for t in self.traces if t.status == 200 and t.done)

    @property
    def first_chunks(self) -> list[float]:
        return [t.first_chunk_s for t in self.traces if t.first_chunk_s is not None]

    @property
    def max_gap_s(self) -> float:
        return max((t.max_gap_s for t in self.traces), default=0.0)

    def stalled(self, pause: float) -> bool:
        """A stream that failed, or a gap between chunks longer than the upstream's own pause plus the slack."""
        return self.completed < len(self.traces) or self.max_gap_s > pause + STALL_SLACK_S

    def late_starts(self, pause: float) -> int:
        """Streams whose first chunk came later than the upstream's pause plus the slack."""
        return sum(1 for first in self.first_chunks if first > pause + STALL_SLACK_S)


def raw_request(url: str, token: str, body: bytes) -> bytes:
    head = (
        f"POST {CHAT_PATH} HTTP/1.1\r\nHost: {urlsplit(url).netloc}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def one_stream(url: str, request: bytes) -> StreamTrace:
    """One streamed call on a raw socket: the lightest possible client, so the gaps are the server's."""
    trace = StreamTrace()
    parts = urlsplit(url)
    received = bytearray()
    started = time.perf_counter()
    last: float | None = None
    try:
        async with asyncio.timeout(STREAM_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            writer.write(request)
            while data := await reader.read(65536):
                received += data
                now = time.perf_counter()
                if last is not None:
                    trace.max_gap_s = max(trace.max_gap_s, now - last)
                    last = now
                elif b"data:" in received:
                    trace.first_chunk_s, last = now - started, now
            writer.close()
    except (OSError, TimeoutError) as exc:
        trace.error = f"{type(exc).__name__}: {exc}"
    trace.status = int(received[9:12]) if received.startswith(b"HTTP/1.1 ") else 0
    trace.done = b"data: [DONE]" in received
    trace.chunks = received.count(b"data:")
    return trace


async def open_streams(target: Target, count: int) -> StreamCheck:
    request = raw_request(target.url, target.slow_token, chat_body(target.slow_model, stream=True, prompt=STREAM_PROMPT))
    started = time.perf_counter()
    traces = await asyncio.gather(*(one_stream(target.url, request) for _ in range(count)))
    return StreamCheck(target.name, list(traces), time.perf_counter() - started)


def concurrent_streams(target: Target, count: int) -> StreamCheck:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(open_streams(target, count))


# ----------------------------------------------------------------------------- report


def by_key(results: list[LoadResult]) -> dict[tuple[str, str, int], LoadResult]:
    """One row per target, mode and concurrency: the median of its rounds."""
    rounds: dict[tuple[str, str, int], list[LoadResult]] = {}
    for result in results:
        rounds.setdefault((result.target, result.mode, result.concurrency), []).append(result)
    return {key: median_row(rows) for key, rows in rounds.items()}


def median_row(rows: list[LoadResult]) -> LoadResult:
    """Median throughput and latencies of a row's rounds; errors added up, the worst other load kept."""
    first = rows[0]
    return LoadResult(
        first.target, first.mode, first.concurrency,
        rps=statistics.median(r.rps for r in rows),
        p50_ms=statistics.median(r.p50_ms for r in rows),
        p99_ms=statistics.median(r.p99_ms for r in rows),
        errors=sum(r.errors for r in rows),
        requests=sum(r.requests for r in rows),
        noise=max(r.noise for r in rows),
        cpu_us=statistics.median(r.cpu_us for r in rows),
    )


def references(name: str) -> tuple[str, str]:
    """The emulator-direct row a row's added latency is taken against, and the passthrough row its throughput is divided by."""
    if name in (DIRECT_MESSAGES, BASELINE_MESSAGES):
        return DIRECT_MESSAGES, BASELINE_MESSAGES
    if name in MESSAGES_ROWS:
        return MESSAGES_ROWS[name], BASELINE_MESSAGES
    if name in (DIRECT_RESPONSES, BASELINE_RESPONSES):
        return DIRECT_RESPONSES, BASELINE_RESPONSES
    if name in RESPONSES_ROWS:
        return RESPONSES_ROWS[name], BASELINE_RESPONSES
    return DIRECT, BASELINE


def load_table(results: list[LoadResult], names: list[str]) -> str:
    index = by_key(results)
    lines = [
        "| mode | c | target | req/s | p50 ms | p99 ms | non-2xx/errors | overhead p50 ms | × passthrough | CPU µs/request | other load |",
        "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for mode in MODES:
        for concurrency in CONCURRENCIES:
            for name in names:
                row = index.get((name, mode, concurrency))
                if row is None:
                    continue
                direct_name, baseline_name = references(name)
                direct, passthrough = index.get((direct_name, mode, concurrency)), index.get((baseline_name, mode, concurrency))
                overhead = f"{row.p50_ms - direct.p50_ms:+.2f}" if direct and name != direct.target else "–"
                ratio = f"{row.rps / passthrough.rps:.2f}" if passthrough else "–"
                lines.append(
                    f"| {mode} | {concurrency} | {name} | {row.rps:,.0f} | {row.p50_ms:.2f} | {row.p99_ms:.2f} | {row.errors}"
                    f" | {overhead} | {ratio} | {row.cpu_us:,.0f} | {row.noise:.0%} |"
                )
    return "\n".join(lines)


def stream_table(checks: list[StreamCheck], pause: float) -> str:
    lines = [
        "| target | streams | completed | failed | first chunk p50 / max s | late starts | max gap between chunks ms | wall s | stalls |",
        "|---|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for check in checks:
        firsts = check.first_chunks
        first = f"{statistics.median(firsts):.3f} / {max(firsts):.3f}" if firsts else "–"
        failed = len(check.traces) - check.completed
        stalls = "yes" if check.stalled(pause) else "none"
        lines.append(
            f"| {check.target} | {len(check.traces)} | {check.completed} | {failed} | {first} | {check.late_starts(pause)}"
            f" | {check.max_gap_s * 1000:.1f} | {check.wall_s:.2f} | {stalls} |"
        )
    errors = sorted({t.error or f"HTTP {t.status}" for c in checks for t in c.traces if not (t.status == 200 and t.done)})
    if errors:
        lines.append("")
        lines.extend(f"- failure: {e}" for e in errors[:5])
    return "\n".join(lines)


def paired_shares(results: list[LoadResult], mode: str, concurrency: int, share: Callable[[LoadResult, LoadResult], float],
                  pair: tuple[str, str] = (HUB, BASELINE)) -> list[float]:
    """``share(row, reference_row)`` of a pair of targets (LLM Hub and the passthrough unless told), round by
    round (the two rows of a round were measured seconds apart)."""
    rows = {(r.target, r.round): r for r in results if r.mode == mode and r.concurrency == concurrency}
    rounds = sorted({r.round for r in results})
    name, reference = pair
    return [share(rows[name, n], rows[reference, n]) for n in rounds if (name, n) in rows and (reference, n) in rows]


def throughput_share(hub: LoadResult, passthrough: LoadResult) -> float:
    return hub.rps / passthrough.rps


def cost_share(hub: LoadResult, passthrough: LoadResult) -> float:
    """The passthrough's CPU time per request as a share of LLM Hub's: the throughput share the two
    would reach if each kept its CPU fully busy. A row whose load side (wrk and the emulator on the
    other CPU) cannot keep up leaves its server idle part of the time, which moves the throughput
    share but not this one; the host's own speed moves it as it moves every figure here. An aid to
    reading the verdict, not the target."""
    return passthrough.cpu_us / hub.cpu_us if hub.cpu_us else 0.0


def median_of_rounds(shares: list[float]) -> str:
    each = " / ".join(f"{s:.0%}" for s in shares)
    return f"{statistics.median(shares):.0%}" + (f"; the median of the rounds' {each}" if len(shares) > 1 else "")


def verdict(ok: bool | None) -> str:
    return "n/a " if ok is None else ("PASS" if ok else "MISS")


def target_lines(results: list[LoadResult], checks: list[StreamCheck], pause: float) -> list[str]:
    index = by_key(results)
    lines = []
    for mode in MODES:
        hub, direct = index.get((HUB, mode, 1)), index.get((DIRECT, mode, 1))
        added = hub.p50_ms - direct.p50_ms if hub and direct else None
        shown = f"{added:.2f} ms" if added is not None else "not measured"
        lines.append(f"{verdict(None if added is None else added < 1.0)}  {mode}: added p50 latency at c=1 under 1 ms ({shown})")
    for mode in MODES:
        hub, peer = (index.get((name, mode, 32)) for name in (HUB, PEER))
        if hub and peer:
            lines.append(f"{verdict(hub.rps >= 10 * peer.rps)}  {mode}: c=32 throughput ≥ 10× LiteLLM ({hub.rps / peer.rps:.1f}×)")
        else:
            lines.append(f"n/a   {mode}: c=32 throughput ≥ 10× LiteLLM (LiteLLM row not measured)")
        shares = paired_shares(results, mode, 32, throughput_share)
        if shares:
            lines.append(f"{verdict(statistics.median(shares) >= 0.6)}  {mode}: c=32 throughput ≥ 60% of the bare passthrough"
                         f" ({median_of_rounds(shares)})")
            costs = paired_shares(results, mode, 32, cost_share)
            lines.append(f"info  {mode}: c=32 CPU per request, the passthrough's as a share of LLM Hub's ({median_of_rounds(costs)})")
    lines += messages_target_lines(results)
    lines += cluster_target_lines(results)
    hub_check = next((c for c in checks if c.target == HUB), None)
    if hub_check is not None:
        facts = f"{hub_check.completed} completed, max gap {hub_check.max_gap_s * 1000:.0f} ms, {hub_check.late_starts(pause)} late starts"
        streams = f"{len(hub_check.traces)} concurrent streams through LLM Hub with no stalls ({facts})"
        lines.append(f"{verdict(not hub_check.stalled(pause))}  {streams}")
    hub_rows = [r for r in results if r.target == HUB]
    errors = sum(r.errors for r in hub_rows)
    lines.append(f"{verdict(errors == 0 if hub_rows else None)}  LLM Hub answered every load request with 2xx ({errors} errors)")
    return lines


def cluster_target_lines(results: list[LoadResult]) -> list[str]:
    """The shared state's cost: each several-instance row's p50 at c=1 over the in-memory hub's."""
    index = by_key(results)
    lines = []
    for name in (HUB_REDIS, HUB_REDIS_LIMITED, HUB_WORKERS):
        for mode in MODES:
            row, alone = index.get((name, mode, 1)), index.get((HUB, mode, 1))
            if row and alone:
                added = row.p50_ms - alone.p50_ms
                lines.append(f"{verdict(added <= SHARED_STATE_TARGET_MS)}  {name} {mode}: p50 at c=1 at most"
                             f" {SHARED_STATE_TARGET_MS} ms over in-memory LLM Hub ({added:+.2f} ms)")
    return lines


def messages_target_lines(results: list[LoadResult]) -> list[str]:
    """/v1/messages and /v1/responses: the chat targets' added latency at c=1, and the native relays' c=32
    throughput within 10 % of the chat-completions relay's (LLM Hub's own chat row, measured in the same round)."""
    index = by_key(results)
    lines = []
    for name, direct_name in {**MESSAGES_ROWS, **RESPONSES_ROWS}.items():
        for mode in MODES:
            row, direct = index.get((name, mode, 1)), index.get((direct_name, mode, 1))
            if row and direct:
                added = row.p50_ms - direct.p50_ms
                lines.append(f"{verdict(added < 1.0)}  {name} {mode}: added p50 latency at c=1 under 1 ms ({added:.2f} ms)")
    for native in (HUB_NATIVE, HUB_RESPONSES_NATIVE):
        for mode in MODES:
            shares = paired_shares(results, mode, 32, throughput_share, (native, HUB))
            if shares:
                lines.append(f"{verdict(statistics.median(shares) >= 0.9)}  {native} {mode}: c=32 throughput within 10% of"
                             f" LLM Hub's chat completions ({median_of_rounds(shares)})")
    return lines


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="measured seconds per row (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up seconds per row (default 1)")
    parser.add_argument("--streams", type=int, default=200, help="concurrent streams in the stall check (default 200)")
    parser.add_argument("--stream-delay", type=float, default=0.5, help="upstream first-token delay in the stall check (default 0.5 s)")
    parser.add_argument("--no-litellm", action="store_true", help="skip the LiteLLM peer row")
    parser.add_argument("--only", help="comma-separated targets to measure besides the emulator, e.g. 'passthrough,LLM Hub'")
    parser.add_argument("--rounds", type=int, default=1,
                        help="times every row is measured (every target in turn); rows report the median (default 1)")
    parser.add_argument("--retries", type=int, default=2, help="extra runs of a row that other work disturbed (default 2)")
    parser.add_argument("--wait-quiet", type=float, default=60, help="seconds to wait for other work to stop before each row (default 60)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="Redis for the several-instance rows")
    parser.add_argument("--database-url", help="LLMHUB_DATABASE_URL for the several-instance rows (default: their SQLite file)")
    return parser.parse_args(argv)


@contextmanager
def skipped_on_failure(skipped: list[str], name: str, targets: list[Target] | None = None, target: Target | None = None) -> Iterator[None]:
    """Record a target that failed to start (or to answer) as skipped instead of aborting the run,
    and take it out of ``targets``."""
    try:
        yield
    except TargetError as exc:
        skipped.append(f"{name}: {exc}")
        print(f"skipping {name}: {exc}\n{exc.detail}", file=sys.stderr, flush=True)
        if targets is not None and target in targets:
            targets.remove(target)


def start_targets(stack: ExitStack, workdir: Path, args: argparse.Namespace, skipped: list[str]) -> tuple[Server, list[Target]]:
    slow_key = f"slow:{args.stream_delay:g}"
    emulator = start_emulator(workdir)
    stack.callback(emulator.stop)
    targets = [Target(DIRECT, emulator.url, emulator.process.pid, "ok", "gpt-4o", slow_key, "gpt-4o")]
    hub_key, litellm_key = "sk-bench-" + secrets.token_hex(16), "sk-" + secrets.token_hex(32)
    starters = [
        *((name, partial(start_passthrough, workdir, emulator, client), "ok", "gpt-4o", slow_key, "gpt-4o")
          for name, client in PASSTHROUGHS.items()),
        (HUB, lambda: start_llmhub(workdir, emulator, slow_key, hub_key), hub_key, "bench", hub_key, "bench-slow"),
    ]
    prefix = f"llmhub-bench-{secrets.token_hex(4)}:"
    stack.callback(forget_redis_keys, args.redis_url, prefix)
    for name, more in ((HUB_REDIS, {}), (HUB_WORKERS, {"LLMHUB_WORKERS": "2"})):
        start = partial(start_llmhub, workdir, emulator, slow_key, hub_key, name, **cluster_env(args, prefix + name[-1] + ":", **more))
        starters.append((name, start, hub_key, "bench", hub_key, "bench-slow"))
    if args.no_litellm:
        skipped.append("LiteLLM: --no-litellm")
    else:
        start_peer = partial(start_litellm, workdir, emulator, slow_key, litellm_key)
        starters.append((PEER, start_peer, litellm_key, "gpt-4o", litellm_key, "gpt-4o-slow"))
    wanted = set(args.only.split(",")) if args.only else None
    for name, start, token, model, slow_token, slow_model in starters:
        if wanted is not None and not wanted & {name, *MESSAGES_TARGETS.get(name, ()), *CLUSTER_TARGETS.get(name, ())}:
            continue
        with skipped_on_failure(skipped, name):
            print(f"starting {name} ...", file=sys.stderr, flush=True)
            server = start()
            stack.callback(server.stop)
            target = Target(name, server.url, server.process.pid, token, model, slow_token, slow_model)
            smoke(target)
            if wanted is None or name in wanted:
                targets.append(target)
            targets += messages_targets(target, wanted, skipped)
            if name == HUB_REDIS and (wanted is None or HUB_REDIS_LIMITED in wanted):
                with skipped_on_failure(skipped, HUB_REDIS_LIMITED):
                    targets.append(limited_token(target))
    if wanted is None or DIRECT_MESSAGES in wanted:
        targets.append(replace(targets[0], name=DIRECT_MESSAGES, model="claude-sonnet-4-5", path=MESSAGES_PATH))
    if wanted is None or DIRECT_RESPONSES in wanted:
        targets.append(replace(targets[0], name=DIRECT_RESPONSES, path=RESPONSES_PATH))
    return emulator, targets


def messages_targets(started: Target, wanted: set[str] | None, skipped: list[str]) -> list[Target]:
    """The /v1/messages and /v1/responses rows a started server also serves: the passthrough's, and LLM Hub's native and translated."""
    chosen = []
    for name in MESSAGES_TARGETS.get(started.name, ()):
        target = replace(started, name=name, model=ROW_MODELS.get(name, started.model), path=ROW_PATHS.get(name, CHAT_PATH))
        if wanted is None or name in wanted:
            with skipped_on_failure(skipped, target.name):
                smoke(target)
                chosen.append(target)
    return chosen


@dataclass
class Findings:
    load: list[LoadResult] = field(default_factory=list)
    streams: list[StreamCheck] = field(default_factory=list)


def measure_row(target: Target, stream: bool, concurrency: int, emulator_pid: int, args: argparse.Namespace, workdir: Path,
                round_number: int) -> LoadResult:
    """One load row of one target, with the target alone on the SUT CPU."""
    wait_for_quiet(args.wait_quiet)
    pin_tree(target.pid, SUT_CPUS)
    if target.pid != emulator_pid:
        pin_tree(emulator_pid, LOAD_CPUS)
    try:
        metered = (target.pid, emulator_pid) if target.pid != emulator_pid else (target.pid,)
        return replace(measured_row(target, stream, concurrency, args, workdir, metered), round=round_number)
    finally:
        pin_tree(emulator_pid, LOAD_CPUS)


def measure_round(targets: list[Target], emulator_pid: int, args: argparse.Namespace, workdir: Path, skipped: list[str],
                  findings: Findings, round_number: int) -> None:
    """Every row, each measured for every target in turn. c=1 first: an HTTP client pool left with
    many idle connections by a c=32 run can slow every later request, and c=1 is the latency row.
    A target that fails is skipped from then on."""
    for concurrency in CONCURRENCIES:
        for stream in (False, True):
            for target in turn_order(targets, round_number):
                with skipped_on_failure(skipped, target.name, targets, target):
                    findings.load.append(measure_row(target, stream, concurrency, emulator_pid, args, workdir, round_number))


def turn_order(targets: list[Target], round_number: int) -> list[Target]:
    """The order of one row's targets: LLM Hub right next to the passthrough, after it in odd rounds
    and before it in even ones, so neither always runs first."""
    pair = [t for t in targets if t.name in (BASELINE, HUB)]
    if len(pair) < 2:
        return list(targets)
    others = [t for t in targets if t not in pair]
    at = targets.index(pair[0])
    return [*others[:at], *(pair if round_number % 2 else pair[::-1]), *others[at:]]


def check_streams(targets: list[Target], emulator_pid: int, args: argparse.Namespace, skipped: list[str], findings: Findings) -> None:
    for target in [t for t in targets if t.path == CHAT_PATH and t.name not in CLOUD_ROWS]:
        with skipped_on_failure(skipped, target.name, targets, target):
            wait_for_quiet(args.wait_quiet)
            pin_tree(target.pid, SUT_CPUS)
            try:
                findings.streams.append(concurrent_streams(target, args.streams))
            finally:
                pin_tree(emulator_pid, LOAD_CPUS)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    if PINNING:
        os.sched_setaffinity(0, LOAD_CPUS)  # this script, wrk and the emulator inherit it
    skipped: list[str] = []
    findings = Findings()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="llmhub-bench-") as tmp:
        workdir = Path(tmp)
        emulator, targets = start_targets(stack, workdir, args, skipped)
        for round_number in range(1, args.rounds + 1):
            if args.rounds > 1:
                print(f"round {round_number} of {args.rounds}", file=sys.stderr, flush=True)
            measure_round(targets, emulator.process.pid, args, workdir, skipped, findings, round_number)
        check_streams(targets, emulator.process.pid, args, skipped, findings)
    print(report(findings, [t.name for t in targets], skipped, args))
    return 0


def report(findings: Findings, names: list[str], skipped: list[str], args: argparse.Namespace) -> str:
    pinning = (
        f"the server being measured alone on CPU {min(SUT_CPUS)}; wrk (1 thread), the emulator and this script"
        f" on CPU {min(LOAD_CPUS)} (taskset / sched_setaffinity)"
        if PINNING
        else "none (fewer than 2 CPUs available)"
    )
    disturbed = sum(1 for row in findings.load if row.noise > QUIET_BUSY)
    quiet = (
        f"`other load` is the share of all CPUs that processes outside the benchmark used during a row; a row over"
        f" {QUIET_BUSY:.0%} is run up to {args.retries} more times, each after waiting for quiet, and the quietest run kept"
        + (f"; {disturbed} rows stayed disturbed, so their figures are pessimistic" if disturbed else "")
    )
    parts = [
        f"## Gateway overhead ({os.cpu_count()} CPUs; {args.duration} s per row after {args.warmup} s warm-up"
        + (f"; every row measured for every target in turn, {args.rounds} rounds, the median shown" if args.rounds > 1 else "") + ")",
        "",
        f"Pinning: {pinning}. {quiet}.",
        "",
        load_table(findings.load, names),
        "",
        f"## {args.streams} concurrent streams (the upstream pauses {args.stream_delay:g} s after its first chunk; a stall is"
        f" a failed stream or a gap between chunks over {args.stream_delay + STALL_SLACK_S:g} s, a late start a first chunk after that)",
        "",
        stream_table(findings.streams, args.stream_delay),
        "",
        "## Targets",
        "",
        *target_lines(findings.load, findings.streams, args.stream_delay),
    ]
    if skipped:
        parts += ["", "## Skipped", "", *(f"- {reason}" for reason in skipped)]
    return "\n".join(parts)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

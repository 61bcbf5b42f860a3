"""The raw ASGI path for chat completions and embeddings, and the honesty of the overhead figure.

In process: ``GatewayFastPath`` around a stand-in API app, on a real Hub in front of the emulator.
Over HTTP: a client that leaves a stream midway, against the running app.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from nicegui import app as nicegui_app
from starlette.types import Receive, Scope, Send

from app.api.event_stream import EventStreamResponse
from app.api.fast_path import GatewayFastPath
from app.internals import open_front_door, skip_fastapi_telemetry
from services.hub import Hub
from tests.conftest import MASTER_KEY, RunningApp
from tests.factories import MASTER_PRINCIPAL, emulated_hub, hub_process, wait_for_usage
from tests.upstream_emulator import EmulatorHandle

PAUSE_SECONDS = 0.5
DRIP_DRAIN_MS = 50 * 1000  # the drip key sends one of the 50 words a second: longer than the usage wait's patience
CONFIG = """
providers:
  - name: emu-slow
    kind: openai
    base_url: {url}/v1
    keys:
      - label: slow
        secret: slow:{pause}#fast-2
  - name: emu-drip
    kind: openai
    base_url: {url}/v1
    keys:
      - label: drip
        secret: drip:1#fast-3
  - name: emu
    kind: openai
    base_url: {url}/v1
    keys:
      - label: main
        secret: ok#fast-1
models:
  - name: quick
    routes:
      - provider: emu
        model: gpt-4o-mini
  - name: slow
    routes:
      - provider: emu-slow
        model: gpt-4o-mini
  - name: drip
    routes:
      - provider: emu-drip
        model: gpt-4o-mini
  - name: embed
    routes:
      - provider: emu
        model: text-embedding-3-small
"""
AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}


def chat(model: str, text: str = "hi", **extra: object) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


class StandInApi:
    """Records the requests the fast path hands on, and answers them with 204."""

    def __init__(self) -> None:
        self.paths: list[tuple[str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.paths.append((scope["method"], scope["path"]))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
async def hub(tmp_path: Path, emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Hub]:
    async with emulated_hub(tmp_path / "data", emulator, CONFIG, master_key=MASTER_KEY, pause=PAUSE_SECONDS) as hub:
        monkeypatch.setattr("app.runtime._hub", hub)
        yield hub


@pytest.fixture
def api() -> StandInApi:
    return StandInApi()


@pytest.fixture
async def client(hub: Hub, api: StandInApi) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=GatewayFastPath(api))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        yield client


async def test_answers_chat_and_embeddings_itself(client: httpx.AsyncClient, api: StandInApi) -> None:
    answer = await client.post("/v1/chat/completions", json=chat("quick"), headers=AUTH)
    assert answer.status_code == 200 and answer.json()["model"] == "quick"
    assert answer.headers["x-llmhub-request-id"].startswith("req_")
    assert answer.headers["x-llmhub-route"] == "emu/gpt-4o-mini"
    assert float(answer.headers["x-llmhub-overhead-ms"]) > 0
    vectors = await client.post("/v1/embeddings", json={"model": "embed", "input": "a b"}, headers=AUTH)
    assert vectors.status_code == 200 and vectors.json()["data"][0]["object"] == "embedding"
    assert api.paths == []


async def test_streams_server_sent_events(client: httpx.AsyncClient) -> None:
    answer = await client.post("/v1/chat/completions", json=chat("quick", "one two", stream=True), headers=AUTH)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
    events = [line for line in answer.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]" and '"model":"quick"' in events[0]
    assert answer.headers["x-llmhub-route"] == "emu/gpt-4o-mini"


async def test_chunks_already_there_go_out_in_one_send_before_any_wait() -> None:
    upstream_read = asyncio.Event()
    messages: list[dict] = []

    async def chunks() -> AsyncIterator[list[bytes]]:
        yield [b'{"n":1}']
        yield [b'{"n":2}']
        await upstream_read.wait()  # opened only by the send of what came before: nothing waits behind it
        yield [b'{"n":3}']

    async def send(message: dict) -> None:
        messages.append(message)
        if message.get("body") == b'data: {"n":1}\n\ndata: {"n":2}\n\n':
            upstream_read.set()

    async def receive() -> dict:
        await asyncio.Event().wait()  # the client stays
        return {"type": "http.disconnect"}

    stream = EventStreamResponse(chunks(), [])
    await asyncio.wait_for(stream({"type": "http"}, receive, send), 30)  # a guard against a hang, not a timing
    assert [m.get("body") for m in messages] == [None, b'data: {"n":1}\n\ndata: {"n":2}\n\n', b'data: {"n":3}\n\ndata: [DONE]\n\n']
    assert [m.get("more_body") for m in messages[1:]] == [True, False]  # the last batch ends the body in the same write


async def stalled_after_one_chunk(closed: list[str]) -> AsyncIterator[list[bytes]]:
    """A stream whose upstream sends one chunk and then nothing more for now; notes when it is closed."""
    try:
        yield [b'{"n":1}']
        await asyncio.Event().wait()
        yield [b'{"n":2}']
    finally:
        closed.append("chunks")


async def test_a_client_leaving_a_stream_stops_it_and_closes_the_chunks() -> None:
    closed: list[str] = []

    async def send(message: dict) -> None:
        pass

    async def receive() -> dict:
        return {"type": "http.disconnect"}  # the client is already gone

    stream = EventStreamResponse(stalled_after_one_chunk(closed), [])
    await asyncio.wait_for(stream({"type": "http"}, receive, send), 30)  # returns (cancelled by the watcher), no error
    assert stream.client_left and closed == ["chunks"]


async def test_a_stream_that_ends_in_an_error_chunk_gets_no_done() -> None:
    messages: list[dict] = []

    async def chunks() -> AsyncIterator[list[bytes]]:
        yield [b'{"n":1}', b'{"error":{"code":"stream_broken"}}']

    async def send(message: dict) -> None:
        messages.append(message)

    async def receive() -> dict:
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    await asyncio.wait_for(EventStreamResponse(chunks(), [])({"type": "http"}, receive, send), 30)
    assert messages[-1] == {"type": "http.response.body", "body": b'data: {"n":1}\n\ndata: {"error":{"code":"stream_broken"}}\n\n',
                            "more_body": False}


async def test_a_send_that_fails_while_the_next_chunk_is_awaited_closes_the_chunks() -> None:
    closed: list[str] = []  # the stream is parked on its second chunk while the first is sent

    async def send(message: dict) -> None:
        if message.get("body"):
            raise OSError("the client's socket is gone")

    async def receive() -> dict:
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    with pytest.raises(OSError, match="the client's socket is gone"):
        await EventStreamResponse(stalled_after_one_chunk(closed), [])({"type": "http"}, receive, send)
    assert closed == ["chunks"]


async def test_everything_else_goes_to_the_api_app(client: httpx.AsyncClient, api: StandInApi) -> None:
    await client.get("/v1/chat/completions", headers=AUTH)
    await client.get("/v1/models", headers=AUTH)
    await client.post("/api/tokens", json={}, headers=AUTH)
    assert api.paths == [("GET", "/v1/chat/completions"), ("GET", "/v1/models"), ("POST", "/api/tokens")]


async def test_errors_in_openai_shape_with_request_id(client: httpx.AsyncClient) -> None:
    missing = await client.post("/v1/chat/completions", content=b"{nope")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_api_key"
    assert missing.headers["x-llmhub-request-id"].startswith("req_")
    bad_json = await client.post("/v1/embeddings", content=b"{nope", headers=AUTH)
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "invalid_json"
    no_input = await client.post("/v1/embeddings", json={"model": "embed"}, headers=AUTH)
    assert no_input.status_code == 400 and no_input.json()["error"]["param"] == "input"
    by_api_key = await client.post("/v1/chat/completions", json=chat("nowhere"), headers={"x-api-key": MASTER_KEY})
    assert by_api_key.status_code == 404 and by_api_key.json()["error"]["code"] == "model_not_found"


async def test_overhead_is_the_gateways_own_time(hub: Hub) -> None:
    """Overhead is the call's time less its waits for upstream bytes, read at one fixed moment (no
    comparison of two live clocks); a stream's stops at its first byte."""
    _, meta = await hub.gateway.chat(MASTER_PRINCIPAL, chat("quick"))
    moment = time.perf_counter()
    assert meta.trail.upstream_ms > 0
    assert meta.overhead_ms_at(moment) == pytest.approx((moment - meta.started) * 1000 - meta.trail.upstream_ms)
    stream = await hub.gateway.stream_chat(MASTER_PRINCIPAL, chat("quick", "one two", stream=True))
    async for _ in stream:
        pass
    assert stream.meta.first_byte is not None and stream.meta.started < stream.meta.first_byte
    at_first_byte = stream.meta.overhead_ms_at(stream.meta.first_byte)
    assert stream.meta.overhead_ms_at(time.perf_counter()) == at_first_byte == stream.meta.overhead_ms_at(stream.meta.first_byte + 60)


async def test_a_slow_upstream_does_not_count_as_overhead(hub: Hub) -> None:
    """The emulator holds the whole answer back for the pause: all of it is upstream time (the wait
    for its bytes holds the emulator's sleep, so this bound follows from the order of events)."""
    _, meta = await hub.gateway.chat(MASTER_PRINCIPAL, chat("slow"))
    assert meta.trail.upstream_ms >= PAUSE_SECONDS * 1000
    moment = time.perf_counter()
    assert meta.overhead_ms_at(moment) == pytest.approx(max(0.0, (moment - meta.started) * 1000 - meta.trail.upstream_ms))


@pytest.fixture(scope="module")
def hub_app(emulator: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with hub_process(tmp_path_factory.mktemp("fast-path"), CONFIG, emulator, pause=PAUSE_SECONDS) as app:
        yield app


def test_a_client_leaving_a_stream_is_recorded_as_cancelled(hub_app: RunningApp) -> None:
    body = chat("drip", " ".join(f"word{i}" for i in range(50)), stream=True)
    with httpx.stream("POST", hub_app.url + "/v1/chat/completions", headers=AUTH, json=body) as response:
        assert response.status_code == 200
        next(response.iter_lines())
    [record] = wait_for_usage(hub_app, request_id=response.headers["x-llmhub-request-id"])
    assert record["status"] == "cancelled" and record["error_code"] == "client_closed"
    assert 0 <= record["overhead_ms"] <= record["latency_ms"]
    assert record["latency_ms"] < DRIP_DRAIN_MS  # let go, not drained: a drained upstream takes at least that long


@pytest.mark.parametrize(("otel_env", "checked"), [({}, False), ({"OTEL_TRACES_EXPORTER": "otlp"}, True)])
def test_fastapi_telemetry_is_checked_only_when_opentelemetry_is_set_up(monkeypatch: pytest.MonkeyPatch, otel_env: dict[str, str],
                                                                       checked: bool) -> None:
    for name in [name for name in os.environ if name.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    for name, value in otel_env.items():
        monkeypatch.setenv(name, value)
    config = {"tracing": True, "metrics": True, "logs": True}
    monkeypatch.setattr(nicegui_app, "_telemetry", config)
    skip_fastapi_telemetry()
    assert config == {"tracing": checked, "metrics": checked, "logs": checked}


def test_the_fast_path_is_the_front_door_of_what_uvicorn_serves(monkeypatch: pytest.MonkeyPatch, api: StandInApi) -> None:
    config = SimpleNamespace(loaded_app=api)
    monkeypatch.setattr("app.internals.NiceGUIServer.instance", SimpleNamespace(config=config), raising=False)
    open_front_door()
    assert isinstance(config.loaded_app, GatewayFastPath) and config.loaded_app.app is api


async def test_messages_answered_here_and_by_the_fastapi_route_alike(client: httpx.AsyncClient, hub: Hub) -> None:
    """``/v1/messages`` on the fast path, and on its FastAPI route (for a server without the fast path in front)."""
    from fastapi import FastAPI

    from app.api import v1
    from app.api.middleware import RequestIdMiddleware

    api = FastAPI()
    api.include_router(v1.router)
    body = {"model": "quick", "max_tokens": 16, "messages": [{"role": "user", "content": "hi there"}]}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=RequestIdMiddleware(api)), base_url="http://hub") as framework:
        for caller in (client, framework):
            answer = await caller.post("/v1/messages?beta=true", json=body, headers={"x-api-key": MASTER_KEY})
            assert answer.status_code == 200 and answer.json()["content"] == [{"type": "text", "text": "Echo: hi there"}]
            refused = await caller.post("/v1/messages", json={**body, "model": "nowhere"}, headers={"x-api-key": MASTER_KEY})
            assert refused.status_code == 404 and refused.json()["error"]["type"] == "not_found_error"
            assert refused.headers["x-llmhub-request-id"].startswith("req_")

"""The /v1 API driven by the official openai SDK against a running LLM Hub and the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.conftest import MASTER_KEY, RunningApp
from tests.factories import hub_process, user_with_token, wait_for_usage
from tests.upstream_emulator import EmulatorHandle

CONFIG = """
providers:
  - name: emu-openai
    kind: openai
    base_url: {url}/v1
    keys:
      - label: primary
        secret: ok#openai-1
  - name: emu-anthropic
    kind: anthropic
    base_url: {url}
    keys:
      - label: main
        secret: ok#anthropic-1
  - name: emu-gemini
    kind: gemini
    base_url: {url}
    keys:
      - label: main
        secret: ok#gemini-1
  - name: emu-ollama
    kind: ollama
    base_url: {url}
    keys:
      - label: local
        secret: ok#ollama-1
  - name: flaky
    kind: openai
    base_url: {url}/v1
    keys:
      - label: limited
        secret: rate-limit:60#flaky-1
      - label: broken
        secret: error-500#flaky-2
  - name: cold
    kind: openai
    base_url: {url}/v1
    keys:
      - label: only
        secret: rate-limit:45#cold-1
  - name: dead
    kind: openai
    base_url: {url}/v1
    keys:
      - label: revoked
        secret: unauthorized#dead-1
  - name: breaker
    kind: openai
    base_url: {url}/v1
    keys:
      - label: breaks
        secret: break-stream#b-1
models:
  - name: smart
    routes:
      - provider: flaky
        model: gpt-4o
        priority: 1
      - provider: emu-anthropic
        model: claude-sonnet-4-5
        priority: 2
  - name: fast
    routes:
      - provider: emu-openai
        model: gpt-4o-mini
  - name: claude
    routes:
      - provider: emu-anthropic
        model: claude-haiku-4-5
  - name: gem
    routes:
      - provider: emu-gemini
        model: gemini-2.5-flash
  - name: local
    routes:
      - provider: emu-ollama
        model: llama3.2
  - name: cold
    routes:
      - provider: cold
        model: gpt-4o
  - name: dead
    routes:
      - provider: dead
        model: gpt-4o
  - name: broken-stream
    routes:
      - provider: breaker
        model: gpt-4o
  - name: embed
    routes:
      - provider: emu-openai
        model: text-embedding-3-small
"""


@pytest.fixture(scope="module")
def hub_app(emulator: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with hub_process(tmp_path_factory.mktemp("gateway"), CONFIG, emulator) as app:
        yield app


@pytest.mark.parametrize(
    ("model", "route"),
    [
        ("fast", "emu-openai/gpt-4o-mini"),
        ("claude", "emu-anthropic/claude-haiku-4-5"),
        ("gem", "emu-gemini/gemini-2.5-flash"),
        ("local", "emu-ollama/llama3.2"),
    ],
)
def test_chat_non_stream_every_provider(hub_app: RunningApp, model: str, route: str) -> None:
    raw = hub_app.sdk().chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": "hello there"}])
    completion = raw.parse()
    assert completion.choices[0].message.content == "Echo: hello there"
    assert completion.model == model
    assert completion.usage and completion.usage.completion_tokens == 3 and completion.usage.prompt_tokens == 2
    assert raw.headers["x-llmhub-route"] == route
    assert raw.headers["x-llmhub-request-id"].startswith("req_")
    assert float(raw.headers["x-llmhub-overhead-ms"]) >= 0


@pytest.mark.parametrize("model", ["fast", "claude", "gem", "local"])
def test_chat_stream_every_provider(hub_app: RunningApp, model: str) -> None:
    chunks = list(hub_app.sdk().chat.completions.create(model=model, messages=[{"role": "user", "content": "one two three"}], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: one two three"
    assert all(c.usage is None for c in chunks), "usage chunk must be hidden when not asked for"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_stream_include_usage(hub_app: RunningApp) -> None:
    chunks = list(hub_app.sdk().chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "a b"}], stream=True, stream_options={"include_usage": True}
    ))
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3 and chunks[-1].choices == []


async def test_async_client_parallel_streams(hub_app: RunningApp) -> None:
    client = openai.AsyncOpenAI(base_url=hub_app.url + "/v1", api_key=MASTER_KEY, max_retries=0)

    async def one(i: int) -> str:
        stream = await client.chat.completions.create(model="fast", messages=[{"role": "user", "content": f"n{i}"}], stream=True)
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    results = await asyncio.gather(*(one(i) for i in range(20)))
    assert results == [f"Echo: n{i}" for i in range(20)]
    await client.close()


def test_embeddings(hub_app: RunningApp) -> None:
    result = hub_app.sdk().embeddings.create(model="embed", input=["alpha", "beta"])
    assert len(result.data) == 2 and len(result.data[0].embedding) == 8
    assert result.data[0].embedding != result.data[1].embedding


def test_models_list(hub_app: RunningApp) -> None:
    ids = {m.id for m in hub_app.sdk().models.list()}
    assert {"smart", "fast", "claude", "gem", "local", "emu-openai/gpt-4o-mini"} <= ids


def test_failover_and_trail_recorded(hub_app: RunningApp) -> None:
    raw = hub_app.sdk().chat.completions.with_raw_response.create(model="smart", messages=[{"role": "user", "content": "fail over"}])
    assert raw.parse().choices[0].message.content == "Echo: fail over"
    assert raw.headers["x-llmhub-route"] == "emu-anthropic/claude-sonnet-4-5"
    request_id = raw.headers["x-llmhub-request-id"]
    [record] = wait_for_usage(hub_app, request_id=request_id)
    reasons = [(a["provider"], a["outcome"], a.get("reason")) for a in record["attempts"]]
    assert ("flaky", "served", None) not in reasons
    assert reasons[-1] == ("emu-anthropic", "served", None)
    failed = {r for r in reasons if r[1] == "failed"}
    assert failed <= {("flaky", "failed", "rate_limited"), ("flaky", "failed", "upstream_5xx")} and failed
    assert record["cost_micros"] is not None and record["provider_name"] == "emu-anthropic"


def test_concrete_provider_model_name(hub_app: RunningApp) -> None:
    completion = hub_app.sdk().chat.completions.create(model="emu-ollama/qwen3:4b", messages=[{"role": "user", "content": "x"}])
    assert completion.choices[0].message.content == "Echo: x"


def test_all_cooling_gives_429_with_retry_after(hub_app: RunningApp) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        hub_app.sdk().chat.completions.create(model="cold", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "all_keys_cooling"
    assert 40 <= int(caught.value.response.headers["retry-after"]) <= 45


def test_all_dead_gives_502(hub_app: RunningApp) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        hub_app.sdk().chat.completions.create(model="dead", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502
    assert "unauthorized" not in str(caught.value.body), "secrets never reach error messages"


def test_stream_breaking_midway_ends_with_error_event(hub_app: RunningApp) -> None:
    body = {"model": "broken-stream", "stream": True, "messages": [{"role": "user", "content": "a b c d e f"}]}
    auth = {"Authorization": f"Bearer {MASTER_KEY}"}
    with httpx.stream("POST", hub_app.url + "/v1/chat/completions", headers=auth, json=body) as response:
        assert response.status_code == 200
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert '"error"' in lines[-1] and "stream_broken" in lines[-1]
    [record] = wait_for_usage(hub_app, request_id=response.headers["x-llmhub-request-id"])
    assert record["status"] == "error" and record["error_code"] == "stream_broken" and record["completion_tokens"] > 0


def test_errors_in_openai_shape(hub_app: RunningApp) -> None:
    client = httpx.Client(base_url=hub_app.url)
    missing = client.post("/v1/chat/completions", json={"model": "fast", "messages": []})
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_api_key"
    assert missing.headers["x-llmhub-request-id"]
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    bad_json = client.post("/v1/chat/completions", content=b"{nope", headers=headers)
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "invalid_json"
    no_messages = client.post("/v1/chat/completions", json={"model": "fast"}, headers=headers)
    assert no_messages.status_code == 400 and no_messages.json()["error"]["param"] == "messages"
    unknown = client.post("/v1/chat/completions", json={"model": "nope", "messages": [{"role": "user", "content": "x"}]}, headers=headers)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    wrong = client.post("/v1/chat/completions", json={"model": "fast", "messages": [{"role": "user", "content": "x"}]},
                        headers={"Authorization": "Bearer llmh-wrong"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"


def test_health_counts_keys(hub_app: RunningApp) -> None:
    body = httpx.get(hub_app.url + "/health").json()
    assert body["database"] == "ok" and body["keys"]["healthy"] >= 4


def test_usage_rows_are_written(hub_app: RunningApp) -> None:
    raw = hub_app.sdk().chat.completions.with_raw_response.create(model="fast", messages=[{"role": "user", "content": "meter me"}])
    [record] = wait_for_usage(hub_app, request_id=raw.headers["x-llmhub-request-id"])
    assert record["prompt_tokens"] == 2 and record["completion_tokens"] == 3
    assert record["upstream_model"] == "gpt-4o-mini" and record["status"] == "ok"
    assert record["cost_micros"] == 2  # 2 × 0.15 + 3 × 0.60 = 2.1 micro-dollars, rounded


def test_unknown_paths_and_methods_in_openai_shape(hub_app: RunningApp) -> None:
    with hub_app.client() as client:
        unknown = client.post("/v1/assistants", json={})
        assert unknown.status_code == 404
        assert unknown.json() == {"error": {"message": "Invalid URL (POST /v1/assistants).", "type": "invalid_request_error",
                                            "param": None, "code": "unknown_url"}}
        wrong_method = client.delete("/v1/chat/completions")
        assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
        assert wrong_method.json()["error"]["code"] == "method_not_allowed"


def test_model_by_id(hub_app: RunningApp) -> None:
    sdk = hub_app.sdk()
    assert sdk.models.retrieve("smart").owned_by == "llmhub"
    concrete = sdk.models.retrieve("emu-openai/gpt-4o-mini")
    assert concrete.id == "emu-openai/gpt-4o-mini" and concrete.owned_by == "emu-openai"
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.models.retrieve("nope")
    assert caught.value.code == "model_not_found"


def test_model_by_id_respects_the_tokens_models(hub_app: RunningApp) -> None:
    holder = user_with_token(hub_app, "lookup@example.com", "lookup-password-1", "lookup")
    with hub_app.client() as admin:
        tokens = admin.get("/api/tokens").json()
        [token] = [t for t in tokens if t["name"] == "lookup"]
        assert admin.patch(f"/api/tokens/{token['id']}", json={"allowed_models": ["fast"]}).status_code == 200
    sdk = hub_app.sdk(holder.token)
    assert sdk.models.retrieve("fast").id == "fast"
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("smart")


def test_a_tokens_model_list_and_rpm_hold_on_chat_calls(hub_app: RunningApp) -> None:
    """403 ``model_not_allowed`` for a model outside the token's list (not counted against its rpm), then
    429 ``rate_limit_exceeded`` with ``Retry-After`` once its requests per minute are used."""
    holder = user_with_token(hub_app, "limits@example.com", "limits-password-1", "limits")
    with hub_app.client() as admin:
        [token] = [t for t in admin.get("/api/tokens").json() if t["name"] == "limits"]
        assert admin.patch(f"/api/tokens/{token['id']}", json={"allowed_models": ["fast"], "rpm": 1}).status_code == 200
    with hub_app.client(holder.token) as client:
        chat = {"messages": [{"role": "user", "content": "hello there"}]}
        refused = client.post("/v1/chat/completions", json={"model": "smart", **chat})
        assert refused.status_code == 403
        assert (refused.json()["error"]["code"], refused.json()["error"]["type"]) == ("model_not_allowed", "permission_error")
        assert client.post("/v1/chat/completions", json={"model": "fast", **chat}).status_code == 200
        limited = client.post("/v1/chat/completions", json={"model": "fast", **chat})
        assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limit_exceeded"
        assert 1 <= int(limited.headers["retry-after"]) <= 61


@pytest.mark.parametrize("model", ["claude", "gem", "local"])
def test_translated_answers_carry_refusal(hub_app: RunningApp, model: str) -> None:
    with hub_app.client() as client:
        answer = client.post("/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "x"}]})
    message = answer.json()["choices"][0]["message"]
    assert "refusal" in message and message["refusal"] is None

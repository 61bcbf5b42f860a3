"""The exact response cache, driven through a running hub with the official SDKs against the emulator.

The emulator's request log is the proof that a hit made no upstream call: every test asks something
no other test asks (``marker``) and counts the emulator's requests that carry it.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest

from tests.conftest import MASTER_KEY, RunningApp
from tests.factories import TokenHolder, hub_process, user_with_token, wait_for_usage, wait_until
from tests.upstream_emulator import EmulatorHandle

CONFIG = """
providers:
  - name: emu-openai
    kind: openai
    base_url: {url}/v1
    keys:
      - label: primary
        secret: ok#cache-openai
  - name: emu-anthropic
    kind: anthropic
    base_url: {url}
    keys:
      - label: main
        secret: ok#cache-anthropic
models:
  - name: cached
    cache: true
    routes:
      - provider: emu-openai
        model: gpt-4o-mini
        price: {{input: "2", output: "8"}}
  - name: shared
    cache: {{scope: everyone, only_deterministic: false}}
    routes:
      - provider: emu-openai
        model: gpt-4o-mini
  - name: personal
    cache: {{scope: person}}
    routes:
      - provider: emu-openai
        model: gpt-4o-mini
  - name: plain
    routes:
      - provider: emu-openai
        model: gpt-4o-mini
  - name: claude-cached
    cache: true
    routes:
      - provider: emu-anthropic
        model: claude-haiku-4-5
  - name: translated-claude
    cache: true
    routes:
      - provider: emu-openai
        model: gpt-4o
  - name: embed-cached
    cache: true
    routes:
      - provider: emu-openai
        model: text-embedding-3-small
"""


@pytest.fixture(scope="module")
def hub_app(emulator: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with hub_process(tmp_path_factory.mktemp("cache"), CONFIG, emulator) as app:
        yield app


@pytest.fixture(scope="module")
def alice(hub_app: RunningApp) -> TokenHolder:
    return user_with_token(hub_app, "alice@example.com", "correct horse battery", "alice-1")


def marker() -> str:
    return f"question {uuid.uuid4().hex[:12]}"


def upstream_calls(emulator: EmulatorHandle, text: str) -> int:
    return sum(1 for request in emulator.requests() if text in str(request.get("body")))


def stored_keys(app: RunningApp) -> list[str]:
    with sqlite3.connect(app.data_dir / "llmhub.db") as db:
        return [key for (key,) in db.execute("SELECT key FROM cacheentry")]


def chat(app: RunningApp, token: str, body: dict[str, object], headers: dict[str, str] | None = None) -> httpx.Response:
    with app.client(token) as client:
        response = client.post("/v1/chat/completions", json=body, headers=headers or {})
    assert response.status_code == 200, response.text
    return response


def test_a_repeated_question_is_answered_from_the_cache_byte_for_byte(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    text = marker()
    sdk = hub_app.sdk()
    first = sdk.chat.completions.with_raw_response.create(model="cached", messages=[{"role": "user", "content": text}])
    second = sdk.chat.completions.with_raw_response.create(model="cached", messages=[{"role": "user", "content": text}])
    assert first.headers["x-llmhub-cache"] == "miss" and second.headers["x-llmhub-cache"] == "hit"
    assert int(second.headers["x-llmhub-cache-age"]) >= 0
    assert second.http_response.content == first.http_response.content
    assert second.parse().choices[0].message.content == f"Echo: {text}"
    assert upstream_calls(emulator, text) == 1


def test_a_model_without_a_cache_says_nothing_and_always_calls(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    text = marker()
    for _ in range(2):
        response = chat(hub_app, MASTER_KEY, {"model": "plain", "messages": [{"role": "user", "content": text}]})
        assert "x-llmhub-cache" not in response.headers
    assert upstream_calls(emulator, text) == 2


def test_a_stream_is_replayed_as_the_same_stream(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    text = marker()
    body = {"model": "cached", "messages": [{"role": "user", "content": text}], "stream": True}
    first, second = chat(hub_app, MASTER_KEY, body), chat(hub_app, MASTER_KEY, body)
    assert (first.headers["x-llmhub-cache"], second.headers["x-llmhub-cache"]) == ("miss", "hit")
    assert second.content == first.content and second.content.endswith(b"data: [DONE]\n\n")
    assert upstream_calls(emulator, text) == 1
    chunks = list(hub_app.sdk().chat.completions.create(model="cached", messages=[{"role": "user", "content": text}], stream=True,
                                                        stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == f"Echo: {text}"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    assert upstream_calls(emulator, text) == 1, "stream_options is not part of the key: the usage chunk is added on replay"


def test_a_chat_answer_serves_both_forms(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    sdk = hub_app.sdk()
    for first_streams in (False, True):
        text = marker()
        messages = [{"role": "user", "content": text}]
        kept = chat(hub_app, MASTER_KEY, {"model": "cached", "messages": messages, "stream": first_streams})
        assert kept.headers["x-llmhub-cache"] == "miss"
        whole = sdk.chat.completions.with_raw_response.create(model="cached", messages=messages)  # type: ignore[arg-type]
        chunks = list(sdk.chat.completions.create(model="cached", messages=messages, stream=True,  # type: ignore[arg-type]
                                                  stream_options={"include_usage": True}))
        assert whole.headers["x-llmhub-cache"] == "hit"
        completion = whole.parse()
        assert completion.choices[0].message.content == f"Echo: {text}" and completion.choices[0].finish_reason == "stop"
        assert completion.usage is not None and completion.usage.completion_tokens == 3 and completion.model == "cached"
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == f"Echo: {text}"
        assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == completion.usage.prompt_tokens
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
        assert upstream_calls(emulator, text) == 1, first_streams


def test_parameters_that_change_the_answer_are_part_of_the_key(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    text = marker()
    messages = [{"role": "user", "content": text}]
    chat(hub_app, MASTER_KEY, {"model": "cached", "messages": messages, "max_tokens": 50, "user": "u1"})
    same = chat(hub_app, MASTER_KEY, {"user": "u2", "max_tokens": 50, "messages": messages, "model": "cached"})
    other = chat(hub_app, MASTER_KEY, {"model": "cached", "messages": messages, "max_tokens": 51})
    assert same.headers["x-llmhub-cache"] == "hit" and other.headers["x-llmhub-cache"] == "miss"
    assert upstream_calls(emulator, text) == 2


def test_only_deterministic_calls_are_cached_by_default(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    text = marker()
    body = {"model": "cached", "messages": [{"role": "user", "content": text}], "temperature": 0.7}
    first, second = chat(hub_app, MASTER_KEY, body), chat(hub_app, MASTER_KEY, body)
    assert first.headers["x-llmhub-cache"] == second.headers["x-llmhub-cache"] == "skip"
    cold = {**body, "temperature": 0}
    assert [chat(hub_app, MASTER_KEY, cold).headers["x-llmhub-cache"] for _ in range(2)] == ["miss", "hit"]
    warm = {**body, "model": "shared"}
    assert [chat(hub_app, MASTER_KEY, warm).headers["x-llmhub-cache"] for _ in range(2)] == ["miss", "hit"]
    assert upstream_calls(emulator, text) == 4


def test_no_cache_skips_the_lookup_and_no_store_keeps_nothing(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    text = marker()
    body = {"model": "cached", "messages": [{"role": "user", "content": text}]}
    assert chat(hub_app, MASTER_KEY, body, {"Cache-Control": "no-store"}).headers["x-llmhub-cache"] == "miss"
    assert chat(hub_app, MASTER_KEY, body).headers["x-llmhub-cache"] == "miss", "no-store kept nothing"
    assert chat(hub_app, MASTER_KEY, body, {"Cache-Control": "no-cache"}).headers["x-llmhub-cache"] == "skip"
    assert chat(hub_app, MASTER_KEY, body).headers["x-llmhub-cache"] == "hit"
    assert upstream_calls(emulator, text) == 3


def test_another_token_misses_unless_the_scope_is_widened(hub_app: RunningApp, emulator: EmulatorHandle, alice: TokenHolder) -> None:
    with hub_app.client() as admin:
        second = admin.post("/api/tokens", json={"name": "alice-2", "user_email": alice.email})
        assert second.status_code == 201, second.text
        limited = admin.post("/api/tokens", json={"name": "alice-limited", "user_email": alice.email, "allowed_models": ["cached"]})
        assert limited.status_code == 201, limited.text
    alice_2 = second.json()["token"]
    for model, answers in (("cached", ["miss", "miss", "miss"]), ("personal", ["miss", "hit", "miss"]), ("shared", ["miss", "hit", "hit"])):
        body = {"model": model, "messages": [{"role": "user", "content": marker()}]}
        seen = [chat(hub_app, token, body).headers["x-llmhub-cache"] for token in (alice.token, alice_2, MASTER_KEY)]
        assert seen == answers, model
    with hub_app.client(limited.json()["token"]) as client:
        refused = client.post("/v1/chat/completions", json=body)  # the last question is cached for everyone, but not its model
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "model_not_allowed"


def test_a_hit_is_metered_at_no_cost_and_says_what_it_saved(hub_app: RunningApp, alice: TokenHolder) -> None:
    body = {"model": "cached", "messages": [{"role": "user", "content": marker()}]}
    miss = chat(hub_app, alice.token, body)
    hit = chat(hub_app, alice.token, body)
    [paid] = wait_for_usage(hub_app, request_id=miss.headers["x-llmhub-request-id"])
    [free] = wait_for_usage(hub_app, request_id=hit.headers["x-llmhub-request-id"])
    assert paid["cost_micros"] > 0 and not paid["cache_hit"] and paid["cost_saved_micros"] is None
    assert free["cache_hit"] and free["cost_micros"] == 0 and free["cost_saved_micros"] == paid["cost_micros"]
    assert (free["prompt_tokens"], free["completion_tokens"]) == (paid["prompt_tokens"], paid["completion_tokens"])
    assert free["provider_name"] is None and free["attempts"] == []


def test_a_hit_is_answered_when_the_budget_is_used_up(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    holder = user_with_token(hub_app, "bob@example.com", "correct horse battery", "bob-1")
    body = {"model": "cached", "messages": [{"role": "user", "content": marker() + " " + "word " * 40}]}
    chat(hub_app, holder.token, body)
    with hub_app.client() as admin:
        tokens = admin.get("/api/tokens").json()
        token_id = next(t["id"] for t in (tokens["data"] if isinstance(tokens, dict) else tokens) if t["name"] == "bob-1")
        assert admin.patch(f"/api/tokens/{token_id}", json={"monthly_budget_usd": "0.000001"}).status_code == 200
    wait_for_usage(hub_app, token_id=token_id)
    with hub_app.client(holder.token) as client:
        refused = client.post("/v1/chat/completions", json={"model": "cached", "messages": [{"role": "user", "content": marker()}]})
        assert refused.status_code == 429, refused.text
        again = client.post("/v1/chat/completions", json=body)
    assert again.status_code == 200 and again.headers["x-llmhub-cache"] == "hit"


def test_the_messages_api_is_cached_relayed_and_translated(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    client = anthropic.Anthropic(base_url=hub_app.url, api_key=MASTER_KEY, max_retries=0)
    for model in ("claude-cached", "translated-claude"):
        text = marker()
        kwargs = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": text}]}
        first = client.messages.with_raw_response.create(**kwargs)  # type: ignore[arg-type]
        second = client.messages.with_raw_response.create(**kwargs)  # type: ignore[arg-type]
        assert (first.headers["x-llmhub-cache"], second.headers["x-llmhub-cache"]) == ("miss", "hit")
        assert second.http_response.content == first.http_response.content
        with client.messages.stream(**kwargs) as stream:  # type: ignore[arg-type]
            streamed = stream.get_final_text()
        raw = client.messages.with_raw_response.create(stream=True, **kwargs)  # type: ignore[call-overload]
        assert raw.headers["x-llmhub-cache"] == "hit"
        replayed = "".join(event.delta.text for event in raw.parse() if event.type == "content_block_delta"
                           and event.delta.type == "text_delta")
        assert streamed == replayed == f"Echo: {text}"
        assert upstream_calls(emulator, text) == 2, model


def test_the_responses_api_is_cached(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    text = marker()
    sdk = hub_app.sdk()
    first = sdk.responses.with_raw_response.create(model="cached", input=text)
    second = sdk.responses.with_raw_response.create(model="cached", input=text)
    assert (first.headers["x-llmhub-cache"], second.headers["x-llmhub-cache"]) == ("miss", "hit")
    assert second.parse().output_text == f"Echo: {text}"
    events = [list(sdk.responses.create(model="cached", input=text, stream=True)) for _ in range(2)]
    assert [e.type for e in events[0]] == [e.type for e in events[1]]
    assert upstream_calls(emulator, text) == 2


def test_embeddings_are_cached(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    text = marker()
    sdk = hub_app.sdk()
    first = sdk.embeddings.with_raw_response.create(model="embed-cached", input=[text, "second"])
    second = sdk.embeddings.with_raw_response.create(model="embed-cached", input=[text, "second"])
    assert (first.headers["x-llmhub-cache"], second.headers["x-llmhub-cache"]) == ("miss", "hit")
    assert second.http_response.content == first.http_response.content
    assert upstream_calls(emulator, text) == 1


def test_entries_survive_a_restart(emulator: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("cache-restart")
    text = marker()
    body = {"model": "cached", "messages": [{"role": "user", "content": text}]}
    with hub_process(folder, CONFIG, emulator) as app:
        first = chat(app, MASTER_KEY, body)
        wait_until(lambda: stored_keys(app), "the entry to be written (a batch every half second)")
    with hub_process(folder, CONFIG, emulator) as app:
        again = chat(app, MASTER_KEY, body)
    assert again.headers["x-llmhub-cache"] == "hit" and again.content == first.content
    assert upstream_calls(emulator, text) == 1


def test_bad_requests_are_refused_as_without_a_cache(hub_app: RunningApp) -> None:
    with hub_app.client() as client:
        response = client.post("/v1/chat/completions", json={"model": "cached", "messages": "nope"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "messages"
    with pytest.raises(openai.BadRequestError):
        hub_app.sdk().chat.completions.create(model="cached", messages=[{"role": "user", "content": "x"}], temperature=5)


def test_legacy_completions_are_cached(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    text = marker()
    sdk = hub_app.sdk()
    first = sdk.completions.with_raw_response.create(model="cached", prompt=text, max_tokens=20)
    second = sdk.completions.with_raw_response.create(model="cached", prompt=text, max_tokens=20)
    assert (first.headers["x-llmhub-cache"], second.headers["x-llmhub-cache"]) == ("miss", "hit")
    assert second.http_response.content == first.http_response.content and text in second.parse().choices[0].text
    assert upstream_calls(emulator, text) == 1

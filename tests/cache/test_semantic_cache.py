"""The semantic cache through a running hub: questions embedded by one of the hub's own models (the
emulator's bag-of-words ``bow-embed``, whose cosine similarity follows the words two texts share)."""

from __future__ import annotations

import math
import sqlite3
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import MASTER_KEY, RunningApp
from tests.factories import hub_process, user_with_token, wait_for_usage, wait_until
from tests.upstream_emulator import EmulatorHandle, bag_of_words_for

CONFIG = """
providers:
  - name: emu
    kind: openai
    base_url: {url}/v1
    keys:
      - label: primary
        secret: ok#semantic
models:
  - name: embedder
    routes:
      - provider: emu
        model: bow-embed
  - name: sem
    cache: {{semantic: true, threshold: 0.9, embedding_model: embedder}}
    routes:
      - provider: emu
        model: gpt-4o-mini
        price: {{input: "1", output: "2"}}
  - name: sem-strict
    cache: {{semantic: true, threshold: 0.99, embedding_model: embedder}}
    routes:
      - provider: emu
        model: gpt-4o-mini
"""


@pytest.fixture(scope="module")
def hub_app(emulator: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with hub_process(tmp_path_factory.mktemp("semantic"), CONFIG, emulator) as app:
        yield app


def stored_vectors(app: RunningApp) -> int:
    with sqlite3.connect(app.data_dir / "llmhub.db") as db:
        return int(db.execute("SELECT count(*) FROM cacheentry WHERE vector IS NOT NULL").fetchone()[0])


def cosine(a: str, b: str) -> float:
    x, y = bag_of_words_for(a), bag_of_words_for(b)
    return sum(p * q for p, q in zip(x, y, strict=True)) / math.sqrt(sum(p * p for p in x) * sum(q * q for q in y))


def ask(app: RunningApp, model: str, text: str, *, system: str | None = None, token: str = MASTER_KEY) -> httpx.Response:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
    with app.client(token) as client:
        response = client.post("/v1/chat/completions", json={"model": model, "messages": messages})
    assert response.status_code == 200, response.text
    return response


def chat_calls(emulator: EmulatorHandle, word: str) -> int:
    return sum(1 for r in emulator.requests() if word in str(r.get("body")) and "messages" in (r.get("body") or {}))


@pytest.fixture
def word() -> str:
    return f"w{uuid.uuid4().hex[:10]}"


def test_a_near_duplicate_hits_above_the_threshold_and_misses_below(hub_app: RunningApp, emulator: EmulatorHandle, word: str) -> None:
    first = f"what is the capital of france {word}"
    near = f"{word} what is the capital of france please"
    far = f"{word} how tall is mount everest"
    assert 0.9 <= cosine(first, near) < 0.99 and cosine(first, far) < 0.5
    original = ask(hub_app, "sem", first)
    assert original.headers["x-llmhub-cache"] == "miss"
    again = ask(hub_app, "sem", near)
    assert again.headers["x-llmhub-cache"] == "hit" and again.content == original.content
    assert ask(hub_app, "sem", far).headers["x-llmhub-cache"] == "miss"
    assert chat_calls(emulator, word) == 2
    [row] = wait_for_usage(hub_app, request_id=again.headers["x-llmhub-request-id"])
    assert row["cache_hit"] and row["cost_micros"] == 0 and row["cost_saved_micros"] > 0


def test_the_threshold_is_the_models(hub_app: RunningApp, emulator: EmulatorHandle, word: str) -> None:
    assert ask(hub_app, "sem-strict", f"what is the capital of france {word}").headers["x-llmhub-cache"] == "miss"
    assert ask(hub_app, "sem-strict", f"{word} what is the capital of france please").headers["x-llmhub-cache"] == "miss"
    assert ask(hub_app, "sem-strict", f"{word} What is the capital of France?").headers["x-llmhub-cache"] == "hit"
    assert chat_calls(emulator, word) == 2


def test_the_rest_of_the_conversation_must_match_and_the_scope_holds(hub_app: RunningApp, emulator: EmulatorHandle, word: str) -> None:
    question = f"what is the capital of france {word}"
    ask(hub_app, "sem", question, system="answer briefly")
    assert ask(hub_app, "sem", question + " please", system="answer at length").headers["x-llmhub-cache"] == "miss"
    assert ask(hub_app, "sem", question + " please", system="answer briefly").headers["x-llmhub-cache"] == "hit"
    holder = user_with_token(hub_app, f"{word}@example.com", "correct horse battery", "semantic-1")
    assert ask(hub_app, "sem", question + " please", system="answer briefly", token=holder.token).headers["x-llmhub-cache"] == "miss"
    assert chat_calls(emulator, word) == 3


def test_entries_and_their_vectors_survive_a_restart(emulator: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory,
                                                     word: str) -> None:
    folder = tmp_path_factory.mktemp("semantic-restart")
    with hub_process(folder, CONFIG, emulator) as app:
        first = ask(app, "sem", f"what is the capital of france {word}")
        wait_until(lambda: stored_vectors(app), "the entry to be written (a batch every half second)")
    with hub_process(folder, CONFIG, emulator) as app:
        again = ask(app, "sem", f"{word} what is the capital of france please")
    assert again.headers["x-llmhub-cache"] == "hit" and again.content == first.content

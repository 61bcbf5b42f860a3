"""Bad input cannot hurt the gateway (issue #16, findings 1, 3 and 4): over real HTTP against a running hub.

Oversized bodies answer 413 before they are read to the end; invalid parameters answer an OpenAI-shaped
400 naming the parameter (never a 500, never a call upstream); 100,000 one-line messages to an
Anthropic route are merged in one pass while ``/health`` keeps answering.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import MASTER_KEY, RunningApp
from tests.factories import hub_process, wait_until
from tests.upstream_emulator import EmulatorHandle

LIMIT = 6 * 1024 * 1024
CONFIG = """
providers:
  - name: emu-openai
    kind: openai
    base_url: {url}/v1
    keys:
      - label: main
        secret: ok#limits-openai
  - name: emu-anthropic
    kind: anthropic
    base_url: {url}
    keys:
      - label: main
        secret: ok#limits-anthropic
models:
  - name: gpt
    routes:
      - provider: emu-openai
        model: gpt-4o-mini
  - name: claude
    routes:
      - provider: emu-anthropic
        model: claude-sonnet-4-5
  - name: claude-slow
    routes:
      - provider: emu-anthropic
        model: claude-sonnet-4-5@slow:3
  - name: embed
    routes:
      - provider: emu-openai
        model: text-embedding-3-small
"""
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorHandle) -> Iterator[RunningApp]:
    folder: Path = tmp_path_factory.mktemp("limits")
    with hub_process(folder, CONFIG, emulator, env={"LLMHUB_MAX_BODY_BYTES": str(LIMIT)}) as running:
        yield running


def post(app: RunningApp, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(app.url + path, headers={"Authorization": f"Bearer {MASTER_KEY}", **kwargs.pop("headers", {})}, timeout=60, **kwargs)


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


# -- finding 3: the body limit ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/embeddings", "/api/keys", "/api/tokens"])
def test_a_body_announced_past_the_limit_is_refused_413(app: RunningApp, path: str) -> None:
    response = post(app, path, content=b" " * (LIMIT + 1), headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text
    assert error_of(response)["code"] == "request_too_large"


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/api/tokens"])
def test_a_chunked_body_is_cut_off_at_the_limit(app: RunningApp, path: str) -> None:
    """No Content-Length: the hub stops reading at the limit and answers, the client's later chunks unread."""
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(4 * LIMIT // 65536):
            sent += 65536
            yield b" " * 65536

    response = post(app, path, content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text
    assert error_of(response)["code"] == "request_too_large"


def test_a_valid_embeddings_batch_up_to_the_limit_is_answered(app: RunningApp) -> None:
    inputs = ["a few words of text to embed here"] * (LIMIT // 40)
    response = post(app, "/v1/embeddings", json={"model": "embed", "input": inputs})
    assert response.status_code == 200, response.text[:300]
    assert len(response.json()["data"]) == len(inputs)


# -- finding 4: invalid parameters --------------------------------------------------------------------

NESTED = [{"type": "text", "text": "x"}]
for _ in range(600):
    NESTED = [NESTED]  # type: ignore[list-item]

INVALID_CHAT: list[tuple[str, dict[str, Any], str]] = [
    ("gpt", {"stream_options": "yes"}, "stream_options"),
    ("gpt", {"stream": True, "stream_options": ["include_usage"]}, "stream_options"),
    ("claude", {"tools": "x"}, "tools"),
    ("claude", {"stop": 5}, "stop"),
    ("claude", {"tools": [{"type": "function"}]}, "tools"),
    ("gpt", {"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ("gpt", {"max_tokens": -1}, "max_tokens"),
    ("gpt", {"max_tokens": "100"}, "max_tokens"),
    ("gpt", {"max_completion_tokens": 0}, "max_completion_tokens"),
    ("gpt", {"temperature": "hot"}, "temperature"),
    ("gpt", {"temperature": 2.5}, "temperature"),
    ("gpt", {"top_p": 1.5}, "top_p"),
    ("gpt", {"n": -1}, "n"),
    ("gpt", {"n": True}, "n"),
    ("gpt", {"tool_choice": 7}, "tool_choice"),
    ("gpt", {"response_format": "json"}, "response_format"),
    ("gpt", {"user": 42}, "user"),
    ("gpt", {"messages": [{"role": 1, "content": "hi"}]}, "messages[0]"),
    ("gpt", {"messages": [{"role": "user", "content": 5}]}, "messages[0]"),
    ("claude", {"messages": [{"role": "user", "content": [1, 2]}]}, "messages[0]"),
    ("gpt", {"messages": "hello"}, "messages"),
]


@pytest.mark.parametrize(("model", "fields", "param"), INVALID_CHAT, ids=[f"{p}-{i}" for i, (_, _, p) in enumerate(INVALID_CHAT)])
def test_an_invalid_chat_parameter_is_a_400_naming_it(app: RunningApp, emulator: EmulatorHandle, model: str,
                                                       fields: dict[str, Any], param: str) -> None:
    before = len(emulator.requests())
    response = post(app, "/v1/chat/completions", json={"model": model, "messages": HELLO, **fields})
    assert response.status_code == 400, response.text
    assert error_of(response)["param"] == param
    assert error_of(response)["type"] == "invalid_request_error"
    assert len(emulator.requests()) == before, "an invalid request went upstream"


def test_content_nested_hundreds_deep_is_a_400(app: RunningApp) -> None:
    response = post(app, "/v1/chat/completions", json={"model": "claude", "messages": [{"role": "user", "content": NESTED}]})
    assert response.status_code == 400, response.text


@pytest.mark.parametrize(("fields", "param"), [
    ({"dimensions": -3}, "dimensions"), ({"dimensions": "8"}, "dimensions"), ({"input": [None]}, "input"),
    ({"input": []}, "input"), ({"input": 5}, "input"), ({"encoding_format": "hex"}, "encoding_format"),
])
def test_an_invalid_embeddings_parameter_is_a_400_naming_it(app: RunningApp, fields: dict[str, Any], param: str) -> None:
    response = post(app, "/v1/embeddings", json={"model": "embed", "input": "hello", **fields})
    assert response.status_code == 400, response.text
    assert error_of(response)["param"] == param


def test_nulls_for_optional_parameters_mean_their_defaults(app: RunningApp) -> None:
    """What the OpenAI SDKs send for an unset parameter is accepted."""
    fields = {"max_tokens": None, "temperature": None, "stop": None, "tools": None, "stream_options": None, "user": None}
    response = post(app, "/v1/chat/completions", json={"model": "claude", "messages": HELLO, **fields})
    assert response.status_code == 200, response.text


# -- finding 1: 100,000 messages to an Anthropic route -------------------------------------------------


def test_a_hundred_thousand_messages_are_merged_while_health_answers(app: RunningApp, emulator: EmulatorHandle) -> None:
    """The messages alternate in runs, as a careless client's transcript might; the hub merges each run
    into one Anthropic message. The upstream is slow (3 s): ``/health`` answers once the big request has
    reached it and before its answer is back."""
    messages = [{"role": "user" if i // 1000 % 2 == 0 else "assistant", "content": "x"} for i in range(100_000)]
    answers: list[httpx.Response] = []
    big = threading.Thread(target=lambda: answers.append(
        post(app, "/v1/chat/completions", json={"model": "claude-slow", "messages": messages})))
    big.start()
    try:
        def merged_upstream() -> list[dict[str, Any]]:
            assert not answers, f"answered before it reached the upstream: {answers[0].text[:300]}"
            return [r for r in emulator.requests() if len((r.get("body") or {}).get("messages", ())) == 100]

        upstream = wait_until(merged_upstream, "the merged request to reach the upstream")
        health = httpx.get(app.url + "/health", timeout=10)
        assert health.status_code == 200
        assert not answers, "the big request was answered before /health was probed: the probe proves nothing"
    finally:
        big.join(60)
    assert answers[0].status_code == 200, answers[0].text[:300]
    merged = upstream[-1]["body"]["messages"]
    assert [len(m["content"]) for m in merged] == [1000] * 100


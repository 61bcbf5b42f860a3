"""``POST /v1/completions`` (legacy) through a running hub with the official ``openai`` SDK: relayed to
OpenAI-format routes (``suffix`` included), translated through chat for the others."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.conftest import RunningApp
from tests.factories import hub_process, wait_for_usage
from tests.upstream_emulator import EmulatorHandle

CONFIG = """
providers:
  - name: emu-openai
    kind: openai
    base_url: {url}/v1
    keys:
      - label: main
        secret: ok#completions-openai
  - name: emu-local
    kind: openai_compatible
    base_url: {url}/v1
    keys:
      - label: main
        secret: ok#completions-local
  - name: emu-anthropic
    kind: anthropic
    base_url: {url}
    keys:
      - label: main
        secret: ok#completions-anthropic
models:
  - name: instruct
    routes:
      - provider: emu-openai
        model: gpt-3.5-turbo-instruct
  - name: local
    routes:
      - provider: emu-local
        model: qwen2.5-coder
  - name: claude
    routes:
      - provider: emu-anthropic
        model: claude-haiku-4-5
"""


@pytest.fixture(scope="module")
def hub_app(emulator: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with hub_process(tmp_path_factory.mktemp("completions"), CONFIG, emulator) as app:
        yield app


@pytest.mark.parametrize("model", ["instruct", "local", "claude"])
def test_completion(hub_app: RunningApp, model: str) -> None:
    raw = hub_app.sdk().completions.with_raw_response.create(model=model, prompt="say this", max_tokens=20)
    completion = raw.parse()
    assert completion.choices[0].text == "Echo: say this" and completion.object == "text_completion"
    assert completion.usage is not None and completion.usage.completion_tokens == 3
    [record] = wait_for_usage(hub_app, request_id=raw.headers["x-llmhub-request-id"])
    assert record["endpoint"] == "completions" and record["completion_tokens"] == 3


@pytest.mark.parametrize("model", ["instruct", "claude"])
def test_stream(hub_app: RunningApp, model: str) -> None:
    chunks = list(hub_app.sdk().completions.create(model=model, prompt="one two", stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "Echo: one two"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3


@pytest.mark.parametrize("model", ["instruct", "local"])
def test_suffix_reaches_an_openai_format_route(hub_app: RunningApp, emulator: EmulatorHandle, model: str) -> None:
    hub_app.sdk().completions.create(model=model, prompt="def add(a, b):", suffix="\n    return c")
    assert emulator.requests()[-1]["body"]["suffix"] == "\n    return c"


def test_suffix_is_refused_where_a_route_cannot_fill_in_the_middle(hub_app: RunningApp) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        hub_app.sdk().completions.create(model="claude", prompt="def add(a, b):", suffix="\n    return c")
    assert caught.value.code == "unsupported_parameter" and caught.value.param == "suffix"

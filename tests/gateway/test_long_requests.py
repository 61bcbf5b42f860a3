"""Issue #16, finding 1: a long conversation is validated and translated off the event loop
(``services.gateway.long_requests``), a short one inline. Checked by the thread each step ran on, through
a real Hub in front of the emulator: chat to an Anthropic route (stream and not), and Anthropic's
Messages API translated to an OpenAI route."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import services.gateway.adapters.anthropic as anthropic_adapter
import services.gateway.calls as calls
from services.gateway.dialects.anthropic_messages import ANTHROPIC_MESSAGES, AnthropicMessages
from services.gateway.long_requests import LONG_CONVERSATION
from services.hub import Hub
from tests.factories import MASTER_PRINCIPAL, emulated_hub
from tests.upstream_emulator import EmulatorHandle

CONFIG = """
providers:
  - name: emu-anthropic
    kind: anthropic
    base_url: "{url}"
    keys: [{{label: main, secret: "ok#long-requests"}}]
  - name: emu-openai
    kind: openai
    base_url: "{url}/v1"
    keys: [{{label: main, secret: "ok#long-requests"}}]
models:
  - name: claude
    routes: [{{provider: emu-anthropic, model: claude-sonnet-4-5}}]
  - name: gpt
    routes: [{{provider: emu-openai, model: gpt-4o-mini}}]
"""


@pytest.fixture
async def hub(tmp_path: Path, emulator: EmulatorHandle):  # type: ignore[no-untyped-def]
    async with emulated_hub(tmp_path, emulator, CONFIG) as started:
        yield started


def conversation(length: int) -> list[dict[str, str]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": "x"} for i in range(length)]


def watched(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, threads: list[str]) -> None:
    """Wrap ``module.name`` so each call notes the thread it ran on."""
    original: Callable[..., Any] = getattr(module, name)

    def noting(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, noting)


@pytest.mark.parametrize("length", [3, LONG_CONVERSATION + 1])
async def test_chat_to_an_anthropic_route(hub: Hub, monkeypatch: pytest.MonkeyPatch, length: int) -> None:
    validated: list[str] = []
    translated: list[str] = []
    watched(monkeypatch, calls, "validate_chat_body", validated)
    watched(monkeypatch, anthropic_adapter, "build_request", translated)
    body = {"model": "claude", "messages": conversation(length)}
    answer, _ = await hub.gateway.chat(MASTER_PRINCIPAL, body)
    stream = await hub.gateway.stream_chat(MASTER_PRINCIPAL, {**body, "stream": True})
    streamed = [batch async for batch in stream.batches()]
    assert answer["choices"][0]["message"]["content"] and streamed
    loop_thread = threading.main_thread().name
    on_loop = length < LONG_CONVERSATION
    assert len(validated) == 2 and len(translated) == 2
    assert all((name == loop_thread) == on_loop for name in validated + translated), (validated, translated)


@pytest.mark.parametrize("length", [3, LONG_CONVERSATION + 1])
async def test_messages_translated_to_an_openai_route(hub: Hub, monkeypatch: pytest.MonkeyPatch, length: int) -> None:
    steps: list[str] = []
    watched(monkeypatch, AnthropicMessages, "validate", steps)
    watched(monkeypatch, AnthropicMessages, "to_chat", steps)
    body = {"model": "gpt", "max_tokens": 16, "messages": conversation(length)}
    content, _ = await hub.gateway.dialect_call(MASTER_PRINCIPAL, body, ANTHROPIC_MESSAGES)
    assert b'"type":"message"' in content.replace(b" ", b"")
    assert len(steps) == 2
    assert all((name == threading.main_thread().name) == (length < LONG_CONVERSATION) for name in steps), steps

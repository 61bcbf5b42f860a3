"""Model discovery against the upstream emulator: each wire format's list (pages included), the cache, the
errors a console shows, and "add these as models"."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.catalog.discovery import CACHE_SECONDS, add_as_models, suggested_name
from services.errors import CatalogError, ErrorKind, UpstreamError
from services.hub import Hub
from tests.factories import TEST_ACTOR, FakeClock, emulated_hub
from tests.upstream_emulator import EmulatorHandle

BASES = {"openai": "/v1", "openai_compatible": "/v1", "anthropic": "", "gemini": "", "ollama": ""}


@pytest.fixture
async def hub(tmp_path: Path, emulator: EmulatorHandle) -> AsyncIterator[Hub]:
    async with emulated_hub(tmp_path / "data", emulator) as hub:
        hub.discovery.clock = FakeClock().now  # the cache's age moves only when a test says so
        yield hub


def add_provider(hub: Hub, emulator: EmulatorHandle, kind: str, secret: str | None = "ok") -> str:
    name = f"{kind.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
    keys = [{"label": "main", "secret": f"{secret}#{uuid.uuid4().hex}"}] if secret else []
    hub.catalog.create_provider(TEST_ACTOR, {"name": name, "kind": kind, "base_url": emulator.url + BASES[kind], "keys": keys})
    return name


@pytest.mark.parametrize(("kind", "expected"), [
    ("openai", ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"]),
    ("anthropic", ["claude-haiku-4-5", "claude-sonnet-4-5"]),
    ("gemini", ["gemini-2.5-flash", "gemini-2.5-pro", "text-embedding-004"]),
    ("ollama", ["llama3.2:latest", "nomic-embed-text:latest"]),
])
async def test_each_wire_format_lists_its_models_chat_models_first(
    hub: Hub, emulator: EmulatorHandle, kind: str, expected: list[str]
) -> None:
    discovery = await hub.discovery.fetch(add_provider(hub, emulator, kind))
    assert discovery.ids == expected
    embedding = {m.id for m in discovery.models if m.embedding}
    assert embedding == ({expected[-1]} if kind != "anthropic" else set())  # Anthropic has no embedding models


async def test_long_lists_are_read_page_by_page(hub: Hub, emulator: EmulatorHandle) -> None:
    """Anthropic and Gemini page their lists; discovery asks for the largest page and follows the cursor."""
    emulator.reset()
    claude = await hub.discovery.fetch(add_provider(hub, emulator, "anthropic", "many-models:1500"))
    assert len(claude.ids) == 1502
    pages = [r["query"] for r in emulator.requests() if r["path"] == "/v1/models"]
    assert [page.get("limit") for page in pages] == ["1000", "1000"] and pages[1]["after_id"]
    emulator.reset()
    gemini = await hub.discovery.fetch(add_provider(hub, emulator, "gemini", "many-models:1200"))
    assert len(gemini.ids) == 1203
    assert [bool(r["query"].get("pageToken")) for r in emulator.requests()] == [False, True]


async def test_a_fetched_list_is_cached_until_it_is_old_or_refreshed(hub: Hub, emulator: EmulatorHandle) -> None:
    name = add_provider(hub, emulator, "openai")
    assert hub.discovery.cached(name) is None
    emulator.reset()
    first = await hub.discovery.fetch(name)
    assert await hub.discovery.fetch(name) is first and hub.discovery.cached(name) is first
    assert len(emulator.requests()) == 1
    await hub.discovery.fetch(name, refresh=True)
    assert len(emulator.requests()) == 2
    clock = hub.discovery.clock.__self__  # type: ignore[attr-defined]
    clock.t += CACHE_SECONDS
    assert hub.discovery.cached(name) is None


async def test_ollama_needs_no_key_the_others_do(hub: Hub, emulator: EmulatorHandle) -> None:
    assert (await hub.discovery.fetch(add_provider(hub, emulator, "ollama", secret=None))).ids[0] == "llama3.2:latest"
    with pytest.raises(CatalogError, match="no enabled key"):
        await hub.discovery.fetch(add_provider(hub, emulator, "anthropic", secret=None))
    with pytest.raises(CatalogError, match="no provider named"):
        await hub.discovery.fetch("nowhere")


async def test_a_refused_key_is_a_classified_error_without_the_secret(hub: Hub, emulator: EmulatorHandle) -> None:
    name = add_provider(hub, emulator, "openai", "unauthorized")
    with pytest.raises(UpstreamError) as refused:
        await hub.discovery.fetch(name)
    assert refused.value.kind is ErrorKind.AUTH and refused.value.status == 401 and "unauthorized#" not in refused.value.message


async def test_add_these_as_models_creates_one_model_per_upstream_model_and_skips_taken_names(hub: Hub, emulator: EmulatorHandle) -> None:
    name = add_provider(hub, emulator, "ollama", secret=None)
    hub.catalog.create_model(TEST_ACTOR, {"name": "llama3.2", "routes": [{"provider": name, "model": "llama3.2:latest"}]})
    added = add_as_models(hub.catalog, TEST_ACTOR, name, ["llama3.2:latest", "nomic-embed-text:latest", "org/tiny:q4"])
    assert added.created == ["nomic-embed-text", "org-tiny-q4"] and added.skipped == ["llama3.2:latest"]
    routes = {m.name: [(r.provider, r.model) for r in m.routes] for m in hub.catalog.list_models()}
    assert routes["org-tiny-q4"] == [(name, "org/tiny:q4")]


def test_suggested_names_fit_the_catalog() -> None:
    assert [suggested_name(m) for m in ("models/gemini-2.5-pro", "llama3.2:latest", "qwen/qwen3:8b", "::")] == [
        "gemini-2.5-pro", "llama3.2", "qwen-qwen3-8b", "model"]


async def test_cloud_kinds_without_a_list_say_how_to_add_their_models(hub: Hub, emulator: EmulatorHandle) -> None:
    options = {"project": "p", "location": "us-central1"}
    hub.catalog.create_provider(TEST_ACTOR, {"name": "vertex-eu", "kind": "vertex", "options": options,
                                             "keys": [{"label": "sa", "secret": '{"client_email": "a@b", "private_key": "k"}'}]})
    with pytest.raises(CatalogError) as caught:
        await hub.discovery.fetch("vertex-eu")
    assert caught.value.status == 400 and "a Vertex model such as gemini-2.5-flash" in caught.value.message

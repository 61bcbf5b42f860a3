"""Presets for OpenAI-compatible services: ``preset:`` in the YAML config and the API fills kind, base URL
and ``options.preset`` (explicit fields win), the list is served, and a preset's refused parameters are
refused (or dropped) by the gateway before the upstream sees them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import yaml

from services.catalog.config_export import export_config
from services.catalog.config_file import apply_config_file
from services.errors import CatalogError, ConfigError
from services.gateway.presets import PRESETS
from services.hub import Hub
from tests.conftest import RunningApp
from tests.databases import DatabaseUnderTest
from tests.factories import TEST_ACTOR, hub_process, local_hub
from tests.upstream_emulator import EmulatorHandle

PRESET_CONFIG = """
providers:
  - name: groq
    preset: groq
    keys: [{label: main, secret: gsk-preset-test-0001}]
  - name: local-vllm
    preset: vllm
    base_url: http://gpu-box:8000/v1
"""
HUB_CONFIG = """
providers:
  - name: groq-emulated
    preset: groq
    base_url: {url}/v1
    keys: [{{label: main, secret: ok#groq-preset}}]
models:
  - name: fast
    routes: [{{provider: groq-emulated, model: llama-3.3-70b-versatile}}]
  - name: fast-lenient
    drop_params: true
    routes: [{{provider: groq-emulated, model: llama-3.3-70b-versatile}}]
"""
HELLO = [{"role": "user", "content": "hello preset"}]


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    with local_hub(tmp_path / "data") as hub:
        yield hub


def test_a_preset_in_the_config_fills_the_provider_and_explicit_fields_win(hub: Hub, tmp_path: Path) -> None:
    path = tmp_path / "llmhub.yaml"
    path.write_text(PRESET_CONFIG)
    assert apply_config_file(path, hub=hub).providers.created == 2
    providers = {p.name: p for p in hub.catalog.list_providers()}
    assert (providers["groq"].kind, providers["groq"].base_url) == ("openai_compatible", "https://api.groq.com/openai/v1")
    assert providers["groq"].options == {"preset": "groq"}
    assert (providers["local-vllm"].base_url, providers["local-vllm"].options) == ("http://gpu-box:8000/v1", {"preset": "vllm"})
    exported = {p["name"]: p for p in yaml.safe_load(export_config(hub, TEST_ACTOR))["providers"]}
    assert exported["groq"]["options"] == {"preset": "groq"}
    assert apply_config_file(path, hub=hub).changes == 0


def test_an_unknown_preset_is_refused_naming_the_known_ones(hub: Hub, tmp_path: Path) -> None:
    path = tmp_path / "llmhub.yaml"
    path.write_text("providers:\n  - {name: nope, preset: grok-cloud}\n")
    with pytest.raises(ConfigError, match=r"preset: .*unknown preset 'grok-cloud': one of groq, openrouter"):
        apply_config_file(path, hub=hub)
    with pytest.raises(CatalogError, match="unknown preset 'x'"):
        hub.catalog.create_provider(TEST_ACTOR, {"name": "bad", "kind": "openai_compatible", "base_url": "http://h/v1",
                                                 "options": {"preset": "x"}})


@pytest.fixture(scope="module")
def hub_app(emulator: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory,
            database_backend: DatabaseUnderTest) -> Iterator[RunningApp]:
    """One hub process per module and database (naming ``database_backend`` makes pytest start another for each)."""
    with hub_process(tmp_path_factory.mktemp("presets"), HUB_CONFIG, emulator) as app:
        yield app


def test_the_api_lists_presets_and_creates_a_provider_from_one(hub_app: RunningApp) -> None:
    with hub_app.client() as admin:
        listed = admin.get("/api/presets").json()
        assert [p["name"] for p in listed] == list(PRESETS)
        cerebras = next(p for p in listed if p["name"] == "cerebras")
        assert cerebras["base_url"] == "https://api.cerebras.ai/v1" and "presence_penalty" in cerebras["refused"]
        created = admin.post("/api/providers", json={"name": "my-deepseek", "preset": "deepseek",
                                                     "keys": [{"label": "k", "secret": "sk-deepseek-preset-1"}]})
        assert created.status_code == 201, created.text
        body = created.json()
        assert (body["kind"], body["base_url"], body["options"]) == ("openai_compatible", "https://api.deepseek.com/v1",
                                                                     {"preset": "deepseek"})
        refused = admin.post("/api/providers", json={"name": "nope", "preset": "unknown"})
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "preset", refused.text


def test_a_presets_refused_parameter_is_refused_by_the_hub_or_dropped(hub_app: RunningApp, emulator: EmulatorHandle) -> None:
    sdk = hub_app.sdk()
    assert sdk.chat.completions.create(model="fast", messages=HELLO).choices[0].message.content == "Echo: hello preset"
    before = len(emulator.requests())
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="fast", messages=HELLO, logit_bias={"1": 5})
    assert caught.value.code == "unsupported_parameter" and "Groq" in caught.value.message
    assert len(emulator.requests()) == before  # refused before the upstream
    answer = sdk.chat.completions.create(model="fast-lenient", messages=HELLO, logit_bias={"1": 5}, n=2)
    assert answer.choices[0].message.content == "Echo: hello preset"
    sent = emulator.requests()[-1]["body"]
    assert "logit_bias" not in sent and "n" not in sent and sent["model"] == "llama-3.3-70b-versatile"

"""Importing a LiteLLM proxy config.yaml, and the preview every console import goes through."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from services.catalog.config_export import export_config
from services.catalog.config_file import apply_plan, plan_import
from services.catalog.litellm_import import is_litellm_config, translate_litellm
from services.errors import ConfigError
from services.hub import Hub
from tests.factories import TEST_ACTOR, local_hub

LITELLM_CONFIG = """
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/OPENAI_API_KEY
      rpm: 500
  - model_name: gpt-4o                 # a second deployment: another key on the same provider
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/OPENAI_API_KEY_2
      rpm: 300
      tpm: 90000
  - model_name: smart
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_key: os.environ/ANTHROPIC_API_KEY
      order: 2
  - model_name: smart
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/OPENAI_API_KEY
      order: 1
  - model_name: fast
    litellm_params:
      model: gemini/gemini-2.5-flash       # no api_key: LiteLLM reads GEMINI_API_KEY
  - model_name: local
    litellm_params:
      model: ollama/llama3.2
      api_base: http://gpu-box:11434
  - model_name: awan-llama3-8b
    litellm_params:
      model: openai/Meta-Llama-3-8B-Instruct
      api_key: sk-literal-awan-0001
      api_base: https://api.awanllm.com/v1
      rpm: 10
  - model_name: groq-llama
    litellm_params:
      model: groq/llama-3.3-70b-versatile
      api_key: os.environ/GROQ_API_KEY
      weight: 3
  - model_name: vllm-models
    litellm_params:
      model: hosted_vllm/facebook/opt-125m
      api_base: http://vllm.internal:8000/v1
  - model_name: azure-gpt
    litellm_params:
      model: azure/gpt-4o-eu
      api_base: https://example.openai.azure.com/
      api_key: os.environ/AZURE_API_KEY
      api_version: "2024-02-01"
  - model_name: "openai/*"
    litellm_params:
      model: "openai/*"
litellm_settings:
  drop_params: true
  num_retries: 3
general_settings:
  master_key: sk-1234
"""
ENVIRONMENT = {
    "OPENAI_API_KEY": "sk-openai-one-1111",
    "OPENAI_API_KEY_2": "sk-openai-two-2222",
    "ANTHROPIC_API_KEY": "sk-ant-3333",
    "GEMINI_API_KEY": "gem-4444",
    "GROQ_API_KEY": "gsk-5555",
}


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with local_hub(tmp_path / "data") as hub:
        yield hub


def translated() -> dict:
    return translate_litellm(yaml.safe_load(LITELLM_CONFIG)).config


def provider(config: dict, name: str) -> dict:
    return next(p for p in config["providers"] if p["name"] == name)


def test_providers_are_grouped_by_kind_and_base_url() -> None:
    config = translated()
    kinds = {p["name"]: (p["kind"], p.get("base_url")) for p in config["providers"]}
    assert kinds == {
        "openai": ("openai", None),
        "anthropic": ("anthropic", None),
        "gemini": ("gemini", None),
        "ollama": ("ollama", "http://gpu-box:11434"),
        "awanllm-com": ("openai_compatible", "https://api.awanllm.com/v1"),
        "groq": ("openai_compatible", "https://api.groq.com/openai/v1"),
        "hosted-vllm": ("openai_compatible", "http://vllm.internal:8000/v1"),
    }


def test_keys_come_from_api_key_with_environment_references_and_the_smallest_limits() -> None:
    config = translated()
    assert provider(config, "openai")["keys"] == [
        {"label": "openai-api-key", "secret": "${OPENAI_API_KEY}", "rpm": 500},
        {"label": "openai-api-key-2", "secret": "${OPENAI_API_KEY_2}", "rpm": 300, "tpm": 90000},
    ]
    assert provider(config, "gemini")["keys"] == [{"label": "gemini-api-key", "secret": "${GEMINI_API_KEY}"}]
    assert provider(config, "awanllm-com")["keys"] == [{"label": "key-1", "secret": "sk-literal-awan-0001", "rpm": 10}]
    assert provider(config, "ollama")["keys"] == [{"label": "no-key", "secret": "none"}]


def test_entries_with_one_model_name_become_routes_of_one_model() -> None:
    models = {m["name"]: m["routes"] for m in translated()["models"]}
    assert models["gpt-4o"] == [{"provider": "openai", "model": "gpt-4o"}]  # two deployments, one route, two keys
    assert models["smart"] == [
        {"provider": "anthropic", "model": "claude-sonnet-4-5", "priority": 2},
        {"provider": "openai", "model": "gpt-4o", "priority": 1},
    ]
    assert models["groq-llama"] == [{"provider": "groq", "model": "llama-3.3-70b-versatile", "weight": 3}]
    assert models["vllm-models"] == [{"provider": "hosted-vllm", "model": "facebook/opt-125m"}]
    assert "azure-gpt" not in models


def test_unsupported_and_wildcard_entries_are_skipped_with_a_note() -> None:
    notes = translate_litellm(yaml.safe_load(LITELLM_CONFIG)).notes
    assert any("azure-gpt" in note and "not supported" in note for note in notes)
    assert any("openai/*" in note and "skipped" in note for note in notes)
    assert any(note.startswith("ollama: no api_key") for note in notes)


@pytest.mark.parametrize(
    ("model", "kind"),
    [
        ("gpt-3.5-turbo", "openai"), ("claude-haiku-4-5", "anthropic"), ("ollama_chat/llama3", "ollama"),
        ("mistral/mistral-small", "openai_compatible"),
    ],
)
def test_prefixes_and_bare_names(model: str, kind: str) -> None:
    config = translate_litellm({"model_list": [{"model_name": "m", "litellm_params": {"model": model, "api_key": "k"}}]}).config
    assert config["providers"][0]["kind"] == kind


def test_an_unknown_prefix_needs_an_api_base() -> None:
    entry = {"model_name": "m", "litellm_params": {"model": "someservice/model-x"}}
    assert translate_litellm({"model_list": [entry]}).config["providers"] == []
    entry["litellm_params"]["api_base"] = "https://llm.example.com/v1"
    (only,) = translate_litellm({"model_list": [entry]}).config["providers"]
    assert (only["name"], only["kind"], only["base_url"]) == ("someservice", "openai_compatible", "https://llm.example.com/v1")


def test_model_names_with_a_slash_are_renamed() -> None:
    result = translate_litellm({"model_list": [{"model_name": "team/gpt", "litellm_params": {"model": "openai/gpt-4o", "api_key": "k"}}]})
    assert result.config["models"][0]["name"] == "team-gpt"
    assert any("team-gpt" in note for note in result.notes)


def test_is_litellm_config() -> None:
    assert is_litellm_config({"model_list": []}) and not is_litellm_config({"providers": []}) and not is_litellm_config([1])


def test_preview_then_apply_a_litellm_file(hub: Hub) -> None:
    plan = plan_import(LITELLM_CONFIG, catalog=hub.catalog, source="litellm.yaml")
    assert plan.format == "litellm"
    assert (plan.preview.providers.created, plan.preview.keys.created, plan.preview.models.created) == (7, 8, 7)
    assert {"kind": "key", "name": "openai / openai-api-key-2", "change": "created"} in [i.model_dump() for i in plan.preview.items]
    assert hub.catalog.list_providers() == []  # a preview writes nothing

    report = apply_plan(plan, catalog=hub.catalog, actor=TEST_ACTOR)
    assert report.changes == 22 and not report.dry_run
    smart = hub.catalog.get_model("smart")
    assert [(r.provider, r.model, r.priority) for r in smart.routes] == [("openai", "gpt-4o", 1), ("anthropic", "claude-sonnet-4-5", 2)]
    secrets = {k.id: k.secret for keys in hub.table.keys_by_provider.values() for k in keys}
    openai_keys = hub.catalog.get_provider("openai").keys
    assert [secrets[k.id] for k in openai_keys] == ["sk-openai-one-1111", "sk-openai-two-2222"]  # resolved from the environment

    again = plan_import(LITELLM_CONFIG, catalog=hub.catalog, source="litellm.yaml")
    assert again.preview.changes == 0 and {i.change for i in again.preview.items} == {"unchanged"}


def test_an_unset_environment_variable_is_named(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GROQ_API_KEY")
    with pytest.raises(ConfigError, match="environment variable GROQ_API_KEY is not set"):
        plan_import(LITELLM_CONFIG, catalog=hub.catalog, source="litellm.yaml")


def test_a_broken_model_list_is_a_config_error(hub: Hub) -> None:
    with pytest.raises(ConfigError, match="model_list"):
        plan_import("model_list: 3\n", catalog=hub.catalog, source="pasted")


def test_our_own_export_previews_as_updates(hub: Hub) -> None:
    hub.catalog.create_provider(TEST_ACTOR, {"name": "main", "kind": "openai", "keys": [{"label": "primary", "secret": "sk-main-0001"}]})
    hub.catalog.create_model(TEST_ACTOR, {"name": "smart", "routes": [{"provider": "main", "model": "gpt-4o"}]})
    text = export_config(hub, TEST_ACTOR).replace("gpt-4o", "gpt-4.1").replace("${LLMHUB_KEY_MAIN_PRIMARY}", "sk-main-0001")
    plan = plan_import(text, catalog=hub.catalog, source="pasted")
    assert plan.format == "llmhub" and plan.notes == []
    assert [(i.kind, i.name, i.change) for i in plan.preview.items] == [
        ("provider", "main", "unchanged"), ("key", "main / primary", "unchanged"), ("model", "smart", "updated"),
    ]

"""Importing a LiteLLM proxy config.yaml: entries, settings, the migration report, and the preview every
console import goes through. (End to end through the gateway: tests/app/test_litellm_dropin.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from services.catalog.config_export import export_config
from services.catalog.config_file import apply_config_text, apply_plan, plan_import
from services.catalog.litellm_deployments import find_target
from services.catalog.litellm_import import Translation, is_litellm_config, translate_litellm
from services.catalog.litellm_report import EntryReport
from services.errors import ConfigError, GatewayError
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
    "AZURE_API_KEY": "azure-6666",
}


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    with local_hub(tmp_path / "data") as hub:
        yield hub


def translate(text: str = LITELLM_CONFIG) -> Translation:
    return translate_litellm(yaml.safe_load(text))


def entry(name: str, **params: Any) -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-k-0001", **params}}


def translate_entries(*entries: dict[str, Any], **sections: Any) -> Translation:
    return translate_litellm({"model_list": list(entries), **sections})


def routes_of(translation: Translation, model: str) -> list[dict[str, Any]]:
    return next(m["routes"] for m in translation.config["models"] if m["name"] == model)


def model_of(translation: Translation, model: str) -> dict[str, Any]:
    return next(m for m in translation.config["models"] if m["name"] == model)


def report_of(translation: Translation, where: str) -> EntryReport:
    return next(e for e in translation.report.entries if e.entry.startswith(where))


def setting_of(translation: Translation, name: str) -> tuple[str, str]:
    found = next(s for s in translation.report.settings if s.setting == name)
    return found.outcome, found.note


# -- entries ------------------------------------------------------------------------------------------


def test_providers_are_grouped_by_kind_and_base_url() -> None:
    kinds = {p["name"]: (p["kind"], p.get("base_url")) for p in translate().config["providers"]}
    assert kinds == {
        "openai": ("openai", None),
        "anthropic": ("anthropic", None),
        "gemini": ("gemini", None),
        "ollama": ("ollama", "http://gpu-box:11434"),
        "awanllm-com": ("openai_compatible", "https://api.awanllm.com/v1"),
        "groq": ("openai_compatible", "https://api.groq.com/openai/v1"),
        "hosted-vllm": ("openai_compatible", "http://vllm.internal:8000/v1"),
        "azure": ("azure", "https://example.openai.azure.com/"),
    }


def test_each_route_is_bound_to_its_own_key_with_its_own_limits() -> None:
    translation = translate()
    openai = next(p for p in translation.config["providers"] if p["name"] == "openai")
    assert openai["keys"] == [
        {"label": "openai-api-key", "secret": "sk-openai-one-1111"},
        {"label": "openai-api-key-2", "secret": "sk-openai-two-2222"},
    ]  # limits are the deployments', not the key's
    assert routes_of(translation, "gpt-4o") == [
        {"provider": "openai", "model": "gpt-4o", "keys": ["openai-api-key"], "rpm": 500},
        {"provider": "openai", "model": "gpt-4o", "keys": ["openai-api-key-2"], "rpm": 300, "tpm": 90000},
    ]
    assert routes_of(translation, "smart") == [
        {"provider": "anthropic", "model": "claude-sonnet-4-5", "keys": ["anthropic-api-key"], "priority": 2},
        {"provider": "openai", "model": "gpt-4o", "keys": ["openai-api-key"], "priority": 1},
    ]
    assert routes_of(translation, "groq-llama") == [
        {"provider": "groq", "model": "llama-3.3-70b-versatile", "keys": ["groq-api-key"], "weight": 3}
    ]
    assert routes_of(translation, "openai/*") == [{"provider": "openai", "model": "*", "keys": ["openai-api-key"]}]


def test_servers_without_a_key_become_keyless_providers() -> None:
    translation = translate()
    assert next(p for p in translation.config["providers"] if p["name"] == "ollama")["keys"] == []
    assert routes_of(translation, "local") == [{"provider": "ollama", "model": "llama3.2"}]
    assert report_of(translation, 'model_list[5] "local"').outcome == "imported"


def test_an_entry_without_a_key_does_not_borrow_another_entrys_key() -> None:
    server = {"api_base": "http://vllm.internal:8000/v1", "model": "hosted_vllm/opt"}
    translation = translate_entries(entry("with-key", **server, api_key="sk-vllm-0001"), entry("without", **server, api_key=None))
    (provider,) = translation.config["providers"]
    assert [k["label"] for k in provider["keys"]] == ["key-1", "no-key"]
    assert routes_of(translation, "without")[0]["keys"] == ["no-key"]
    assert "called with a placeholder key" in translation.report.entries[1].notes[0]


def test_same_model_split_by_tags_stays_two_routes_and_a_true_duplicate_is_merged() -> None:
    translation = translate_entries(
        entry("tiered", tags=["free"], rpm=10), entry("tiered", tags=["paid"], rpm=10),
        entry("twice", rpm=10), entry("twice", rpm=15), entry("twice-unlimited", rpm=10), entry("twice-unlimited"),
    )
    assert [r["tags"] for r in routes_of(translation, "tiered")] == [["free"], ["paid"]]
    assert routes_of(translation, "twice") == [{"provider": "openai", "model": "gpt-4o", "keys": ["key-1"], "rpm": 25}]
    assert "rpm" not in routes_of(translation, "twice-unlimited")[0]
    assert "merged" in report_of(translation, 'model_list[3] "twice"').notes[0]


def test_an_unset_key_variable_imports_the_key_disabled() -> None:
    translation = translate_entries(entry("m", api_key="os.environ/LLMHUB_TEST_UNSET_VARIABLE"))
    (provider,) = translation.config["providers"]
    assert provider["keys"] == [{"label": "llmhub-test-unset-variable", "secret": "unset:LLMHUB_TEST_UNSET_VARIABLE", "enabled": False}]
    report = translation.report.entries[0]
    assert report.outcome == "imported with changes" and "LLMHUB_TEST_UNSET_VARIABLE is not set" in report.notes[0]


def test_a_bad_entry_is_skipped_and_the_rest_imported() -> None:
    translation = translate_entries(
        entry("bad-url", api_base="not a url"), entry("unset-base", api_base="os.environ/LLMHUB_TEST_UNSET_BASE"),
        entry("secret-url", api_base="ftp://user:hunter2@host/v1"),
        {"model_name": "no-params"}, entry(""), entry("good"),
    )
    assert [m["name"] for m in translation.config["models"]] == ["good"]
    assert [(e.outcome, e.notes) for e in translation.report.entries] == [
        ("skipped", ["api_base 'not a url' is not an http:// or https:// URL"]),
        ("skipped", ["api_base: environment variable LLMHUB_TEST_UNSET_BASE is not set"]),
        ("skipped", ["api_base 'ftp://…@host/v1' is not an http:// or https:// URL"]),
        ("skipped", ["no litellm_params"]),
        ("skipped", ["no model_name"]),
        ("imported", []),
    ]


@pytest.mark.parametrize(
    ("model", "api_base", "reason"),
    [
        ("azure/", "https://example.openai.azure.com", "no model name after azure/"),
        ("azure/gpt-4o", None, "an azure/ entry needs api_base"),
        ("azure/gpt-4/x", "https://example.openai.azure.com", "an azure/ entry needs api_base (the resource) and a deployment name"),
        ("azure_ai/mistral-large", "https://example.services.ai.azure.com", "Azure AI (azure_ai/) entries are not imported yet"),
        ("bedrock/anthropic.claude-instant-v1", None, "a bedrock/ entry needs aws_region_name"),
        ("sagemaker/jumpstart-llama", None, "AWS SageMaker (sagemaker/) entries are not imported yet"),
        ("vertex_ai/gemini-pro", None, "a vertex_ai/ entry needs vertex_project"),
        ("cohere/command-r", "https://api.cohere.com", "Cohere (cohere/) is not supported"),
        ("openai/", "https://llm.example.com/v1", "no model name after openai/"),
        ("someservice/model-x", None, "unknown provider prefix 'someservice' and no api_base"),
        ("mystery-model", None, "cannot tell the provider of 'mystery-model'"),
    ],
)
def test_entries_no_adapter_can_serve_are_skipped_whatever_their_model_name(model: str, api_base: str | None, reason: str) -> None:
    """The second importer bug: an odd azure/ name once slipped through as an OpenAI-compatible provider."""
    translation = translate_entries(entry("odd", model=model, **({"api_base": api_base} if api_base else {})), entry("ok"))
    assert [m["name"] for m in translation.config["models"]] == ["ok"]
    assert [p["kind"] for p in translation.config["providers"]] == ["openai"]
    assert translation.report.entries[0].outcome == "skipped" and translation.report.entries[0].notes[0].startswith(reason)


def test_custom_llm_provider_names_the_provider() -> None:
    assert isinstance(find_target("gpt-4", None, "azure"), str)
    target = find_target("my-model", "https://llm.example.com/v1", "openai")
    assert not isinstance(target, str) and (target.kind, target.upstream) == ("openai_compatible", "my-model")


@pytest.mark.parametrize(
    ("model", "kind"),
    [
        ("gpt-3.5-turbo", "openai"), ("claude-haiku-4-5", "anthropic"), ("ollama_chat/llama3", "ollama"),
        ("mistral/mistral-small", "openai_compatible"),
    ],
)
def test_prefixes_and_bare_names(model: str, kind: str) -> None:
    assert translate_entries(entry("m", model=model)).config["providers"][0]["kind"] == kind


def test_model_names_with_a_slash_are_renamed_and_followed_by_settings() -> None:
    fallbacks = {"fallbacks": [{"team/gpt": ["other"]}]}
    translation = translate_entries(entry("team/gpt"), entry("other", model="openai/o3"), router_settings=fallbacks)
    assert [m["name"] for m in translation.config["models"]] == ["team-gpt", "other"]
    assert 'imported as "team-gpt"' in translation.report.entries[0].notes[0]
    assert len(routes_of(translation, "team-gpt")) == 2


def test_route_settings_from_params_and_model_info() -> None:
    translation = translate_entries(
        {
            "model_name": "tuned",
            "litellm_params": {
                "model": "openai/gpt-4o", "api_key": "sk-k-0001", "temperature": 0.2, "max_tokens": 20, "seed": 12,
                "organization": "org-ikDc4ex8NB", "extra_headers": {"X-Team": "os.environ/TEAM_HEADER", "Authorization": "x"},
                "input_cost_per_token": 0.0000025,
            },
            "model_info": {"id": "tuned-1", "mode": "chat", "supports_vision": True, "max_input_tokens": 128000,
                           "output_cost_per_token": "0.00001", "access_groups": ["beta"]},
            "tpm": 40000,
        },
        environment_variables={"TEAM_HEADER": "blue"},
    )
    assert routes_of(translation, "tuned") == [{
        "provider": "openai", "model": "gpt-4o", "keys": ["key-1"], "tpm": 40000, "price": {"input": "2.5", "output": "10"},
        "params": {"max_tokens": 20, "seed": 12, "temperature": 0.2},
        "headers": {"OpenAI-Organization": "org-ikDc4ex8NB", "X-Team": "blue"}, "context_window": 128000,
    }]
    assert translation.report.entries[0].notes == [
        "header Authorization: not a header a route can add; left out",
        "model_info access_groups: not supported; ignored",
    ]


def test_a_price_with_one_side_prices_the_other_at_zero_and_a_bad_one_is_dropped() -> None:
    translation = translate_entries(entry("half", input_cost_per_token=0.000001), entry("bad", output_cost_per_token="free"))
    assert routes_of(translation, "half")[0]["price"] == {"input": "1", "output": "0"}
    assert "output tokens priced at 0" in translation.report.entries[0].notes[0]
    assert "price" not in routes_of(translation, "bad")[0]
    assert "is not a price" in translation.report.entries[1].notes[0]


def test_unknown_params_and_keys_are_noted_never_dropped_in_silence() -> None:
    translation = translate_entries({**entry("m", max_parallel_requests=10, mock_response="hi"), "extra_thing": 1})
    assert translation.report.entries[0].notes == [
        "extra_thing: not supported; ignored", "litellm_params max_parallel_requests, mock_response: not supported; ignored",
    ]


def test_credentials_and_environment_variables_fill_entries() -> None:
    translation = translate_entries(
        {"model_name": "m", "litellm_params": {"model": "openai/gpt-4o", "litellm_credential_name": "team"}},
        credential_list=[{"credential_name": "team", "credential_values": {"api_key": "os.environ/TEAM_KEY",
                                                                            "api_base": "https://llm.example.com/v1"}}],
        environment_variables={"TEAM_KEY": "sk-team-9999", "OPENAI_API_KEY": "sk-from-the-file"},
    )
    (provider,) = translation.config["providers"]
    assert (provider["base_url"], provider["keys"][0]["secret"]) == ("https://llm.example.com/v1", "sk-team-9999")
    assert setting_of(translation, "credential_list")[0] == "mapped"
    assert setting_of(translation, "environment_variables")[0] == "mapped"
    wildcard = translate_entries({"model_name": "x", "litellm_params": {"model": "openai/gpt-4o"}},
                                 environment_variables={"OPENAI_API_KEY": "sk-from-the-file"})
    assert wildcard.config["providers"][0]["keys"][0]["secret"] == "sk-from-the-file"  # the file's value wins


def test_model_star_becomes_wildcard_models_for_each_provider_with_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY")
    translation = translate_entries({"model_name": "*", "litellm_params": {"model": "*"}})
    names = [m["name"] for m in translation.config["models"]]
    assert names == ["openai/*", "gpt-*", "o1*", "o3*", "o4*", "chatgpt*", "text-embedding*", "anthropic/*", "claude*"]
    assert routes_of(translation, "gpt-*") == [{"provider": "openai", "model": "gpt-*", "keys": ["openai-api-key"]}]
    assert routes_of(translation, "anthropic/*") == [{"provider": "anthropic", "model": "*", "keys": ["anthropic-api-key"]}]
    assert translation.report.entries[0].outcome == "imported with changes"


def test_a_star_in_the_model_needs_a_wildcard_name() -> None:
    translation = translate_entries(entry("plain", model="openai/*"), entry("*", model="openai/*"))
    assert [m["name"] for m in translation.config["models"]] == ["*"]
    assert translation.report.entries[0].outcome == "skipped"


# -- settings -----------------------------------------------------------------------------------------


def test_fallbacks_append_the_fallback_models_routes_at_lower_priorities() -> None:
    translation = translate_entries(
        entry("primary", order=1), entry("primary", model="openai/gpt-4o-mini", order=2),
        entry("second", model="anthropic/claude-haiku-4-5", api_key="os.environ/ANTHROPIC_API_KEY"),
        entry("third", model="gemini/gemini-2.5-flash", api_key="os.environ/GEMINI_API_KEY", order=3),
        {**entry("by-id", model="openai/o3"), "model_info": {"id": "o3-deployment"}},
        router_settings={"fallbacks": [{"primary": ["second", "third", "o3-deployment", "nowhere", "primary"]}]},
    )
    routes = [(r["provider"], r["model"], r.get("priority", 1)) for r in routes_of(translation, "primary")]
    assert routes == [
        ("openai", "gpt-4o", 1), ("openai", "gpt-4o-mini", 2), ("anthropic", "claude-haiku-4-5", 3), ("gemini", "gemini-2.5-flash", 4),
        ("openai", "o3", 5),
    ]
    outcome, note = setting_of(translation, 'router_settings.fallbacks["primary"]')
    assert outcome == "mapped" and note.startswith("second, third, o3-deployment appended to primary as fallback routes")
    assert "nowhere: not a model_name or model_info.id of this file" in note and "a model cannot fall back to itself" in note
    assert len(routes_of(translation, "second")) == 1  # not transitive, and the fallback model itself is unchanged


def test_a_fallback_route_the_model_already_has_is_not_added_twice() -> None:
    translation = translate_entries(entry("a"), entry("b"), entry("b", model="openai/gpt-4o-mini"),
                                    litellm_settings={"fallbacks": [{"a": ["b"]}]})
    assert [r["model"] for r in routes_of(translation, "a")] == ["gpt-4o", "gpt-4o-mini"]


def test_context_window_fallbacks_are_marked_and_a_wildcard_target_is_expanded() -> None:
    translation = translate_entries(
        entry("small", model="openai/gpt-4o-mini"), entry("openai/*", model="openai/*"),
        litellm_settings={"context_window_fallbacks": [{"small": ["openai/gpt-4.1"]}]},
    )
    assert routes_of(translation, "small")[1] == {
        "provider": "openai", "model": "gpt-4.1", "keys": ["key-1"], "priority": 2, "context_fallback": True,
    }


def test_default_fallbacks_serve_models_without_their_own() -> None:
    translation = translate_entries(
        entry("a"), entry("b", model="openai/gpt-4o-mini"), entry("rescue", model="anthropic/claude-haiku-4-5"),
        entry("own", model="openai/o3"), entry("other", model="openai/o4-mini"),
        litellm_settings={"default_fallbacks": ["rescue"], "fallbacks": [{"own": ["other"]}]},
    )
    assert [r["model"] for r in routes_of(translation, "a")] == ["gpt-4o", "claude-haiku-4-5"]
    assert [r["model"] for r in routes_of(translation, "own")] == ["o3", "o4-mini"]
    assert [r["model"] for r in routes_of(translation, "rescue")] == ["claude-haiku-4-5"]
    assert setting_of(translation, "litellm_settings.default_fallbacks") == (
        "mapped", "rescue appended to 3 model(s) without fallbacks of their own"
    )


def test_badly_shaped_fallbacks_are_reported() -> None:
    translation = translate_entries(entry("a"), router_settings={"fallbacks": "a"})
    assert setting_of(translation, "router_settings.fallbacks")[0] == "not supported"


def test_model_group_alias_becomes_aliases() -> None:
    translation = translate_entries(
        entry("gpt-4o"), entry("claude", model="anthropic/claude-haiku-4-5"),
        router_settings={"model_group_alias": {
            "gpt-4": "gpt-4o", "GPT-4o": {"model": "gpt-4o", "hidden": True}, "claude": "gpt-4o", "team/x": "gpt-4o", "z": "nowhere",
        }},
    )
    assert model_of(translation, "gpt-4o")["aliases"] == ["gpt-4", "GPT-4o"]
    assert setting_of(translation, 'router_settings.model_group_alias["GPT-4o"]')[1].endswith("LLM Hub lists every alias in /v1/models")
    assert setting_of(translation, 'router_settings.model_group_alias["claude"]')[0] == "not supported"
    assert setting_of(translation, 'router_settings.model_group_alias["team/x"]')[0] == "not supported"
    assert setting_of(translation, 'router_settings.model_group_alias["z"]') == (
        "not supported", "nowhere is not a model of this file; ignored"
    )


@pytest.mark.parametrize(
    ("master_key", "outcome", "keys"),
    [
        ("sk-master-0123456789", "mapped", [{"label": "litellm", "key": "sk-master-0123456789"}]),
        ("os.environ/OPENAI_API_KEY", "mapped", [{"label": "litellm", "key": "sk-openai-one-1111"}]),
        ("os.environ/LLMHUB_TEST_UNSET_MASTER", "not supported", []),
        ("sk-1234", "not supported", []),
    ],
)
def test_the_master_key(master_key: str, outcome: str, keys: list[dict[str, str]]) -> None:
    translation = translate_entries(entry("m"), general_settings={"master_key": master_key})
    assert translation.config["master_keys"] == keys
    assert setting_of(translation, "general_settings.master_key")[0] == outcome
    assert "sk-master" not in translation.report.model_dump_json() and "sk-openai" not in translation.report.model_dump_json()


def test_retries_and_timeouts_global_and_per_deployment() -> None:
    translation = translate_entries(
        entry("a"), entry("b", model="openai/gpt-4o-mini", timeout=5, stream_timeout=7, num_retries=1),
        entry("b", model="openai/o3", timeout=9), entry("c", model="openai/o4-mini", timeout=7200),
        litellm_settings={"num_retries": 2, "request_timeout": 600},
        router_settings={"timeout": 30, "fallbacks": [{"a": ["b", "c"]}]},
    )
    assert {k: v for k, v in model_of(translation, "a").items() if k in ("num_retries", "timeout")} == {"num_retries": 8, "timeout": 30}
    assert {k: v for k, v in model_of(translation, "b").items() if k.endswith(("retries", "timeout"))} == {
        "num_retries": 1, "timeout": 9, "stream_timeout": 7,
    }
    assert model_of(translation, "c")["timeout"] == 3600
    assert "its deployments disagree on timeout: the largest (9) is used" in translation.report.entries[1].notes
    assert "timeout 7200 s is more than LLM Hub allows: 3600 s used" in translation.report.entries[3].notes
    assert [s.outcome for s in translation.report.settings if s.setting.endswith(("num_retries", "timeout"))] == ["mapped"] * 3


def test_every_other_setting_is_listed_kept_or_not_supported() -> None:
    translation = translate_entries(
        entry("m"),
        router_settings={"routing_strategy": "simple-shuffle", "enable_tag_filtering": True, "redis_host": "redis", "cooldown_time": 30},
        litellm_settings={"success_callback": ["langfuse"], "some_future_flag": 1},
        general_settings={"database_url": "postgresql://u:secret@db/x"},
        guardrails=[{"guardrail_name": "pii"}],
    )
    assert {s.setting: s.outcome for s in translation.report.settings} == {
        "router_settings.routing_strategy": "kept", "router_settings.enable_tag_filtering": "kept",
        "router_settings.redis_host": "not supported", "router_settings.cooldown_time": "not supported",
        "litellm_settings.success_callback": "not supported", "litellm_settings.some_future_flag": "not supported",
        "general_settings.database_url": "not supported", "guardrails": "not supported",
    }
    assert "secret" not in translation.report.model_dump_json()


def test_log_lines_name_each_entry_not_imported_plainly_and_each_setting_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GROQ_API_KEY")
    report = translate().report
    assert report.summary() == (
        "LiteLLM model_list: 11 entries (10 imported, 1 imported with changes, 0 skipped); settings: 1 mapped, 0 kept, 2 not supported"
    )
    assert report.log_lines() == [
        ("imported with changes", 'model_list[7] "groq-llama": imported with changes: api_key: environment variable GROQ_API_KEY '
                                  'is not set: key "groq-api-key" imported disabled'),
        ("not supported", "general_settings.master_key: not supported: shorter than 8 characters; no master key"),
        ("mapped", "litellm_settings.num_retries: mapped: each model's num_retries, grown by its fallbacks (LiteLLM retries each "
                   "fallback model as often)"),
        ("not supported", "litellm_settings.drop_params: not supported: requests reach OpenAI-format providers as sent and are "
                          "translated for the others"),
    ]


def test_is_litellm_config() -> None:
    assert is_litellm_config({"model_list": []}) and not is_litellm_config({"providers": []}) and not is_litellm_config([1])


# -- applying: one importer, a preview, nothing all or nothing -----------------------------------------


def test_preview_then_apply_a_litellm_file(hub: Hub) -> None:
    plan = plan_import(LITELLM_CONFIG, catalog=hub.catalog, source="litellm.yaml")
    assert plan.format == "litellm" and plan.preview.migration is not None
    assert (plan.preview.providers.created, plan.preview.keys.created, plan.preview.models.created) == (8, 7, 9)
    assert {"kind": "key", "name": "openai / openai-api-key-2", "change": "created"} in [i.model_dump() for i in plan.preview.items]
    assert hub.catalog.list_providers() == []  # a preview writes nothing

    report = apply_plan(plan, catalog=hub.catalog, actor=TEST_ACTOR)
    assert report.changes == 24 and not report.dry_run and report.format == "litellm"
    smart = hub.catalog.get_model("smart")
    assert [(r.provider, r.model, r.priority, r.keys) for r in smart.routes] == [
        ("openai", "gpt-4o", 1, ["openai-api-key"]), ("anthropic", "claude-sonnet-4-5", 2, ["anthropic-api-key"]),
    ]
    secrets = {k.id: k.secret for keys in hub.table.keys_by_provider.values() for k in keys}
    assert [secrets[k.id] for k in hub.catalog.get_provider("openai").keys] == ["sk-openai-one-1111", "sk-openai-two-2222"]

    again = plan_import(LITELLM_CONFIG, catalog=hub.catalog, source="litellm.yaml")
    assert again.preview.changes == 0 and {i.change for i in again.preview.items} == {"unchanged"}


def test_an_unset_key_variable_no_longer_refuses_the_whole_file(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first importer bug: one unset os.environ/ reference made the whole file fail."""
    monkeypatch.delenv("GROQ_API_KEY")
    report = apply_config_text(LITELLM_CONFIG, catalog=hub.catalog, source="litellm.yaml", actor=TEST_ACTOR)
    assert report.models.created == 9
    groq = hub.catalog.get_provider("groq").keys[0]
    assert (groq.label, groq.enabled) == ("groq-api-key", False)


def test_what_the_catalog_refuses_is_skipped_and_the_rest_applied(hub: Hub) -> None:
    hub.catalog.create_provider(TEST_ACTOR, {"name": "console", "kind": "ollama", "keys": [{"label": "k", "secret": "none"}]})
    hub.catalog.create_model(TEST_ACTOR, {"name": "taken", "aliases": ["gpt-4"], "routes": [{"provider": "console", "model": "llama3"}]})
    text = yaml.safe_dump({
        "model_list": [entry("gpt-4"), entry("fresh", model="openai/gpt-4o-mini"), entry("aliased", model="openai/o3")],
        "router_settings": {"model_group_alias": {"taken": "aliased"}},
    })
    report = apply_config_text(text, catalog=hub.catalog, source="litellm.yaml", actor=TEST_ACTOR)
    assert report.migration is not None
    outcomes = {e.model: (e.outcome, e.notes) for e in report.migration.entries}
    assert outcomes["gpt-4"] == ("skipped", ["not imported: name: 'gpt-4' is already an alias of another model"])
    assert outcomes["fresh"] == ("imported", [])
    assert outcomes["aliased"] == ("imported with changes", ["aliases taken: aliases: a model named 'taken' already exists; left out"])
    assert {m.name for m in hub.catalog.list_models()} == {"taken", "fresh", "aliased"}


def test_a_broken_model_list_is_a_config_error(hub: Hub) -> None:
    with pytest.raises(ConfigError, match="model_list"):
        plan_import("model_list: 3\n", catalog=hub.catalog, source="pasted")


def test_our_own_export_previews_as_updates(hub: Hub) -> None:
    hub.catalog.create_provider(TEST_ACTOR, {"name": "main", "kind": "openai", "keys": [{"label": "primary", "secret": "sk-main-0001"}]})
    hub.catalog.create_model(TEST_ACTOR, {"name": "smart", "routes": [{"provider": "main", "model": "gpt-4o"}]})
    text = export_config(hub, TEST_ACTOR).replace("gpt-4o", "gpt-4.1").replace("${LLMHUB_KEY_MAIN_PRIMARY}", "sk-main-0001")
    plan = plan_import(text, catalog=hub.catalog, source="pasted")
    assert plan.format == "llmhub" and plan.preview.migration is None
    assert [(i.kind, i.name, i.change) for i in plan.preview.items] == [
        ("provider", "main", "unchanged"), ("key", "main / primary", "unchanged"), ("model", "smart", "updated"),
    ]


def test_a_litellm_master_key_is_set_hashed_and_previewed(hub: Hub) -> None:
    text = yaml.safe_dump({"model_list": [entry("m")], "general_settings": {"master_key": "sk-litellm-master-0042"}})
    plan = plan_import(text, catalog=hub.catalog, source="litellm.yaml")
    assert [(i.kind, i.name, i.change) for i in plan.preview.items if i.kind == "master_key"] == [("master_key", "litellm", "created")]
    with pytest.raises(GatewayError):  # a preview writes nothing
        hub.tokens.authenticate("sk-litellm-master-0042")
    apply_plan(plan, catalog=hub.catalog, actor=TEST_ACTOR)
    assert hub.tokens.authenticate("sk-litellm-master-0042").role == "admin"
    again = plan_import(text, catalog=hub.catalog, source="litellm.yaml")
    assert [i.change for i in again.preview.items if i.kind == "master_key"] == ["unchanged"]
    assert "sk-litellm-master-0042" not in again.preview.model_dump_json()


def test_azure_and_bedrock_entries_become_cloud_providers_with_their_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-7777")
    translation = translate_entries(
        entry("gpt", model="azure/gpt4o-prod", api_base="https://contoso.openai.azure.com", api_version="2024-10-21"),
        {"model_name": "claude", "litellm_params": {"model": "bedrock/converse/us.anthropic.claude-3-5-haiku-20241022-v1:0",
                                                    "aws_region_name": "eu-west-1"}},
        {"model_name": "claude-session", "litellm_params": {
            "model": "bedrock/anthropic.claude-3-haiku-20240307-v1:0", "aws_region_name": "eu-west-1",
            "aws_access_key_id": "AKIASESSION", "aws_secret_access_key": "session-secret", "aws_session_token": "token-8888"}},
    )
    providers = {p["name"]: p for p in translation.config["providers"]}
    assert providers["azure"]["options"] == {"api_version": "2024-10-21"} and providers["azure"]["keys"][0]["secret"] == "sk-k-0001"
    assert providers["bedrock"]["options"] == {"region": "eu-west-1"}
    assert [k["secret"] for k in providers["bedrock"]["keys"]] == ["AKIAEXAMPLE:aws-secret-7777", "AKIASESSION:session-secret:token-8888"]
    assert routes_of(translation, "claude")[0]["model"] == "us.anthropic.claude-3-5-haiku-20241022-v1:0"
    assert routes_of(translation, "gpt")[0] == {"provider": "azure", "model": "gpt4o-prod", "keys": ["key-1"]}
    assert {e.outcome for e in translation.report.entries} == {"imported"}


def test_vertex_and_preset_entries_keep_their_project_credentials_and_preset(monkeypatch: pytest.MonkeyPatch) -> None:
    account = {"type": "service_account", "client_email": "hub@acme.iam.gserviceaccount.com", "private_key": "-----BEGIN…"}
    monkeypatch.setenv("VERTEX_SA", orjson.dumps(account).decode())
    monkeypatch.setenv("VERTEXAI_PROJECT", "acme-from-env")
    translation = translate_entries(
        {"model_name": "gemini", "litellm_params": {"model": "vertex_ai/gemini-2.5-pro", "vertex_project": "acme-ml",
                                                    "vertex_location": "europe-west4", "vertex_credentials": "os.environ/VERTEX_SA"}},
        {"model_name": "claude", "litellm_params": {"model": "vertex_ai/claude-sonnet-4-5@20250929", "vertex_credentials": account}},
        {"model_name": "on-disk", "litellm_params": {"model": "vertex_ai/gemini-2.5-flash", "vertex_project": "p",
                                                     "vertex_credentials": "/secrets/sa.json"}},
        {"model_name": "fast", "litellm_params": {"model": "groq/llama-3.3-70b-versatile", "api_key": "gsk-groq-0001"}},
    )
    providers = {p["name"]: p for p in translation.config["providers"]}
    assert providers["vertex"]["options"] == {"project": "acme-ml", "location": "europe-west4"}
    assert orjson.loads(providers["vertex"]["keys"][0]["secret"]) == account
    assert providers["vertex-2"]["options"] == {"project": "acme-from-env", "location": "us-central1"}  # LiteLLM's fallbacks
    assert routes_of(translation, "claude")[0]["model"] == "claude-sonnet-4-5@20250929"
    assert providers["groq"]["options"] == {"preset": "groq"} and providers["groq"]["base_url"] == "https://api.groq.com/openai/v1"
    skipped = [e for e in translation.report.entries if e.outcome == "skipped"]
    assert len(skipped) == 1 and "vertex_credentials is a file path" in skipped[0].notes[0]

"""A LiteLLM ``config.yaml`` run as it is: a hub started with it as ``LLMHUB_CONFIG`` (or ``run.py --config``)
serves what LiteLLM would, through real HTTP against the emulator, and says what it could not keep.

The file is written in LiteLLM's documented format (docs.litellm.ai: proxy/configs, proxy/reliability,
proxy/load_balancing, proxy/tag_routing, proxy/custom_pricing). Models are named after what they
prove, and each upstream model name is unique, so the emulator's record tells the tests apart.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import MASTER_KEY, ROOT, RunningApp, child_env, free_port, wait_until_up
from tests.factories import emulator_config, hub_process, wait_for_usage, wait_until
from tests.upstream_emulator import EmulatorHandle

LITELLM_CONFIG = """
model_list:
  - model_name: tight                       # two deployments on one key, each with its own rpm
    litellm_params:
      model: openai/tight-model
      api_base: {url}/v1
      api_key: os.environ/SHARED_KEY
      rpm: 1
  - model_name: roomy
    litellm_params:
      model: openai/roomy-model
      api_base: {url}/v1
      api_key: os.environ/SHARED_KEY
    rpm: 1000                               # rpm on the entry, as LiteLLM also reads it
  - model_name: limited                     # the upstream rate-limits this model only
    litellm_params:
      model: openai/limited-model@rate-limit:30
      api_base: {url}/v1
      api_key: os.environ/SHARED_KEY
  - model_name: sibling
    litellm_params:
      model: openai/sibling-model
      api_base: {url}/v1
      api_key: os.environ/SHARED_KEY
  - model_name: primary                     # fails; falls back to backup
    litellm_params:
      model: openai/primary-model@error-500
      api_base: {url}/v1
      api_key: os.environ/SHARED_KEY
  - model_name: backup
    litellm_params:
      model: openai/backup-model
      api_base: {url}/v1
      api_key: os.environ/BACKUP_KEY        # set by environment_variables below
  - model_name: small                       # answers context_length_exceeded past 8 words
    litellm_params:
      model: openai/small-model@context-limit:8
      api_base: {url}/v1
      api_key: os.environ/SHARED_KEY
  - model_name: windowed                    # a known window: too long is not even sent
    litellm_params:
      model: openai/windowed-model
      api_base: {url}/v1
      api_key: os.environ/SHARED_KEY
    model_info:
      max_input_tokens: 10
  - model_name: large
    litellm_params:
      model: openai/large-model
      api_base: {url}/v1
      api_key: os.environ/SHARED_KEY
  - model_name: priced
    litellm_params:
      model: openai/priced-model
      api_base: {url}/v1
      api_key: os.environ/SHARED_KEY
    model_info:
      input_cost_per_token: 0.00001
      output_cost_per_token: 0.00003
  - model_name: tiered
    litellm_params:
      model: openai/tier-model
      api_base: {url}/v1
      api_key: os.environ/FREE_KEY
      tags: ["free"]
  - model_name: tiered
    litellm_params:
      model: openai/tier-model
      api_base: {url}/v1
      api_key: os.environ/PAID_KEY
      tags: ["paid"]
  - model_name: tiered
    litellm_params:
      model: openai/tier-model
      api_base: {url}/v1
      api_key: os.environ/DEFAULT_KEY
      tags: ["default"]
  - model_name: "openai/*"
    litellm_params:
      model: "openai/*"
      api_base: {url}/v1
      api_key: os.environ/SHARED_KEY
  - model_name: tuned
    litellm_params:
      model: openai/tuned-model
      api_base: {url}/v1
      api_key: os.environ/SHARED_KEY
      temperature: 0.2
      max_tokens: 20
      organization: org-ikDc4ex8NB
      extra_headers: {{"X-Resource-Group": "ishaan-resource"}}
  - model_name: sluggish                    # answers after 5 s; its own timeout is 1 s
    litellm_params:
      model: openai/sluggish-model@slow:5
      api_base: {url}/v1
      api_key: os.environ/SHARED_KEY
      timeout: 1
      stream_timeout: 2
  - model_name: local-llama                 # Ollama takes no key
    litellm_params:
      model: ollama/llama3.2
      api_base: {url}
  - model_name: unset-key
    litellm_params:
      model: openai/unset-model
      api_base: {url}/v1
      api_key: os.environ/LLMHUB_TEST_NEVER_SET_7f3a
  - model_name: broken
    litellm_params:
      model: openai/broken-model
      api_base: not-a-url
      api_key: sk-broken-0000
  - model_name: azure-bare
    litellm_params:
      model: "azure/"
      api_base: https://example.openai.azure.com/
      api_key: sk-azure-0000
  - model_name: azure-nested
    litellm_params:
      model: azure/gpt-4/x
      api_base: https://example.openai.azure.com/
      api_key: sk-azure-0000
      api_version: "2024-02-01"

litellm_settings:
  num_retries: 2
  request_timeout: 30
  context_window_fallbacks: [{{"small": ["large"]}}, {{"windowed": ["large"]}}]
  success_callback: ["langfuse"]
  drop_params: true
  cache: true

router_settings:
  routing_strategy: usage-based-routing
  fallbacks: [{{"primary": ["backup"]}}]
  model_group_alias: {{"gpt-4": "backup", "legacy-backup": {{"model": "backup", "hidden": true}}}}
  allowed_fails: 3
  cooldown_time: 30

general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  database_url: postgresql://user:pass@db:5432/litellm

environment_variables:
  BACKUP_KEY: "ok#backup"
"""
LITELLM_MASTER_KEY = "sk-litellm-master-5e6f7a8b9c"
ENVIRONMENT = {
    "SHARED_KEY": "ok#shared", "FREE_KEY": "ok#free", "PAID_KEY": "ok#paid", "DEFAULT_KEY": "ok#default",
    "LITELLM_MASTER_KEY": LITELLM_MASTER_KEY,
}
PROMPT = "one two three four"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorHandle) -> Iterator[RunningApp]:
    with hub_process(tmp_path_factory.mktemp("litellm"), LITELLM_CONFIG, emulator, env=ENVIRONMENT) as app:
        yield app


def chat(app: RunningApp, model: str, prompt: str = PROMPT, token: str = MASTER_KEY, **extra: Any) -> httpx.Response:
    with app.client(token) as client:
        return client.post("/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": prompt}], **extra})


def upstream_calls(emulator: EmulatorHandle, model: str) -> list[dict[str, Any]]:
    return [r for r in emulator.requests() if (r["body"] or {}).get("model") == model]


def test_the_start_log_holds_the_migration_report(hub: RunningApp) -> None:
    log = hub.log()
    assert "(litellm) applied" in log and "LiteLLM model_list: 21 entries" in log
    for line in (
        'model_list[18] "broken": skipped: api_base \'not-a-url\' is not an http:// or https:// URL',
        'model_list[19] "azure-bare": skipped: no model name after azure/',
        'model_list[20] "azure-nested": skipped: an azure/ entry needs api_base (the resource) and a deployment name without \'/\'',
        'model_list[17] "unset-key": imported with changes: api_key: environment variable LLMHUB_TEST_NEVER_SET_7f3a is not set',
        "router_settings.routing_strategy: not supported",
        "router_settings.allowed_fails: not supported: set LLMHUB_CIRCUIT_THRESHOLD instead",
        "router_settings.cooldown_time: not supported: set LLMHUB_CIRCUIT_OPEN_SECONDS",
        "litellm_settings.success_callback: not supported",
        "litellm_settings.cache: not supported",
        "general_settings.database_url: not supported: LLM Hub keeps its data in SQLite",
        'router_settings.fallbacks["primary"]: mapped: backup appended to primary',
    ):
        assert line in log, line
    assert "postgresql://user:pass" not in log and LITELLM_MASTER_KEY not in log and "ok#backup" not in log


def test_what_was_skipped_is_not_in_the_catalog(hub: RunningApp) -> None:
    with hub.client() as admin:
        models = {m["name"]: m for m in admin.get("/api/models").json()}
        providers = admin.get("/api/providers").json()
    assert not {"broken", "azure-bare", "azure-nested"} & set(models)
    assert all(r["model"] not in ("", "azure/", "gpt-4/x") for m in models.values() for r in m["routes"])
    assert all("azure" not in (p["base_url"] or "") for p in providers)
    unset = next(k for p in providers for k in p["keys"] if k["label"] == "llmhub-test-never-set-7f3a")
    assert unset["enabled"] is False
    assert chat(hub, "unset-key").status_code == 502


def test_an_alias_answers_and_is_listed(hub: RunningApp, emulator: EmulatorHandle) -> None:
    answer = chat(hub, "gpt-4")
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-llmhub-route"].endswith("/backup-model")
    assert upstream_calls(emulator, "backup-model")[-1]["key"] == "ok#backup"  # from the file's environment_variables
    with hub.client() as client:
        listed = {m["id"] for m in client.get("/v1/models").json()["data"]}
    assert {"gpt-4", "legacy-backup", "backup"} <= listed
    record = wait_for_usage(hub, request_id=answer.headers["x-llmhub-request-id"])[0]
    assert record["requested_model"] == "gpt-4" and record["upstream_model"] == "backup-model"


def test_a_failing_primary_falls_back_to_the_fallback_model(hub: RunningApp, emulator: EmulatorHandle) -> None:
    answer = chat(hub, "primary")
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-llmhub-route"].endswith("/backup-model")
    assert upstream_calls(emulator, "primary-model@error-500"), "the primary was tried first"


def test_a_too_long_prompt_takes_the_context_window_fallback(hub: RunningApp, emulator: EmulatorHandle) -> None:
    short = chat(hub, "small", "just three words")
    assert short.status_code == 200 and short.headers["x-llmhub-route"].endswith("/small-model@context-limit:8")
    long = chat(hub, "small", " ".join(["word"] * 20))
    assert long.status_code == 200, long.text
    assert long.headers["x-llmhub-route"].endswith("/large-model")
    windowed = chat(hub, "windowed", "a prompt far too long for a window of ten tokens, " * 4)
    assert windowed.status_code == 200 and windowed.headers["x-llmhub-route"].endswith("/large-model")
    assert upstream_calls(emulator, "windowed-model") == []  # its known window: not even tried


def test_the_custom_price_shows_in_the_usage_export(hub: RunningApp) -> None:
    answer = chat(hub, "priced")
    assert answer.status_code == 200
    wait_for_usage(hub, request_id=answer.headers["x-llmhub-request-id"])
    with hub.client() as admin:
        exported = admin.get("/api/usage/export", params={"format": "json", "model": "priced"})
    (row,) = exported.json()
    # 4 prompt words at $10 per million tokens, 5 answer words ("Echo: one two three four") at $30 per million
    assert (row["prompt_tokens"], row["completion_tokens"]) == (4, 5)
    assert Decimal(row["cost_usd"]) == Decimal("0.00019")


def test_the_master_key_works(hub: RunningApp) -> None:
    assert chat(hub, "backup", token=LITELLM_MASTER_KEY).status_code == 200
    with hub.client(LITELLM_MASTER_KEY) as client:
        assert client.get("/api/models").status_code == 200
    with hub.client("sk-litellm-master-wrong") as client:
        assert client.get("/api/models").status_code == 401


def test_per_route_rpm_holds_independently_on_a_shared_key(hub: RunningApp) -> None:
    assert chat(hub, "tight").status_code == 200
    refused = chat(hub, "tight")
    assert refused.status_code == 429, refused.text
    assert [chat(hub, "roomy").status_code for _ in range(5)] == [200] * 5  # same key, its own rpm


def test_one_rate_limited_model_leaves_the_keys_other_models_serving(hub: RunningApp, emulator: EmulatorHandle) -> None:
    limited = chat(hub, "limited")
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "all_keys_cooling"
    assert len(upstream_calls(emulator, "limited-model@rate-limit:30")) == 1
    assert chat(hub, "sibling").status_code == 200  # same key, another model
    assert chat(hub, "limited").status_code == 429
    assert len(upstream_calls(emulator, "limited-model@rate-limit:30")) == 1  # cooling: not asked again


def test_a_tagged_request_lands_on_its_tagged_route(hub: RunningApp, emulator: EmulatorHandle) -> None:
    for extra, key in (({"tags": ["paid"]}, "ok#paid"), ({"metadata": {"tags": ["free"]}}, "ok#free"), ({}, "ok#default")):
        answer = chat(hub, "tiered", **extra)
        assert answer.status_code == 200, answer.text
        call = upstream_calls(emulator, "tier-model")[-1]
        assert call["key"] == key and "tags" not in call["body"] and "tags" not in (call["body"].get("metadata") or {})


def test_an_openai_wildcard_serves_any_openai_model(hub: RunningApp, emulator: EmulatorHandle) -> None:
    answer = chat(hub, "openai/brand-new-model")
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-llmhub-route"].endswith("/brand-new-model")
    assert upstream_calls(emulator, "brand-new-model")[-1]["key"] == "ok#shared"


def test_default_params_and_extra_headers_reach_the_upstream(hub: RunningApp, emulator: EmulatorHandle) -> None:
    assert chat(hub, "tuned").status_code == 200
    call = upstream_calls(emulator, "tuned-model")[-1]
    assert (call["body"]["temperature"], call["body"]["max_tokens"]) == (0.2, 20)
    assert call["headers"]["openai-organization"] == "org-ikDc4ex8NB"
    assert call["headers"]["x-resource-group"] == "ishaan-resource"
    assert call["headers"]["authorization"] == "<redacted>"
    assert chat(hub, "tuned", temperature=0.9).status_code == 200
    assert upstream_calls(emulator, "tuned-model")[-1]["body"]["temperature"] == 0.9  # the request's own value wins


def test_retries_and_timeouts_become_model_settings(hub: RunningApp) -> None:
    with hub.client() as admin:
        models = {m["name"]: m for m in admin.get("/api/models").json()}
    assert (models["backup"]["num_retries"], models["backup"]["timeout"]) == (2, 30)
    assert models["primary"]["num_retries"] == 5  # 2 retries on primary, then again on its fallback: (2 + 1) × 2 − 1
    assert (models["sluggish"]["timeout"], models["sluggish"]["stream_timeout"]) == (1, 2)
    answer = chat(hub, "sluggish")
    assert answer.status_code == 502, answer.text  # the emulator answers after 5 s; the model waits 1 s
    record = wait_for_usage(hub, request_id=answer.headers["x-llmhub-request-id"])[0]
    assert [a["reason"] for a in record["attempts"] if a["outcome"] == "failed"] == ["timeout"]


def test_a_keyless_ollama_entry_serves_without_a_key(hub: RunningApp, emulator: EmulatorHandle) -> None:
    answer = chat(hub, "local-llama")
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "Echo: " + PROMPT
    assert upstream_calls(emulator, "llama3.2")[-1]["key"] is None
    with hub.client() as admin:
        ollama = next(p for p in admin.get("/api/providers").json() if p["kind"] == "ollama")
    assert ollama["keyless"] and ollama["keys"] == []


def test_the_api_previews_a_litellm_file_with_its_report(hub: RunningApp, emulator: EmulatorHandle) -> None:
    text = emulator_config(LITELLM_CONFIG, emulator)
    with hub.client() as admin:
        preview = admin.post("/api/config/import", params={"dry_run": "true"}, content=text)
    assert preview.status_code == 200, preview.text
    report = preview.json()
    assert report["format"] == "litellm" and report["dry_run"] and report["changes"] == 0  # the start applied it all
    entries = {e["entry"]: e for e in report["migration"]["entries"]}
    assert entries['model_list[19] "azure-bare"']["outcome"] == "skipped"
    assert entries['model_list[0] "tight"'] == {"entry": 'model_list[0] "tight"', "model": "tight", "outcome": "imported", "notes": []}
    settings = {s["setting"]: s for s in report["migration"]["settings"]}
    assert settings["general_settings.master_key"]["outcome"] == "mapped"
    assert LITELLM_MASTER_KEY not in preview.text and "ok#backup" not in preview.text


def test_the_api_imports_the_rest_of_a_file_with_a_bad_entry(hub: RunningApp, emulator: EmulatorHandle) -> None:
    text = f"""
model_list:
  - model_name: imported-over-api
    litellm_params: {{model: openai/api-model, api_base: "{emulator.url}/v1", api_key: ok#api}}
  - model_name: bad-over-api
    litellm_params: {{model: openai/x, api_base: "ftp://nowhere", api_key: ok#api}}
"""
    with hub.client() as admin:
        answer = admin.post("/api/config/import", content=text)
    assert answer.status_code == 200, answer.text
    outcomes = [(e["model"], e["outcome"]) for e in answer.json()["migration"]["entries"]]
    assert outcomes == [("imported-over-api", "imported"), ("bad-over-api", "skipped")]
    assert chat(hub, "imported-over-api").status_code == 200


def test_run_py_with_config_starts_serves_and_prints_the_report(tmp_path: Path, emulator: EmulatorHandle) -> None:
    path = tmp_path / "litellm-config.yaml"
    path.write_text(emulator_config(LITELLM_CONFIG, emulator))
    port = free_port()
    log_path = tmp_path / "run.log"
    env = child_env(LLMHUB_PORT=str(port), LLMHUB_DATA_DIR=str(tmp_path / "data"), **ENVIRONMENT)
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--config", str(path)], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    app = RunningApp(f"http://127.0.0.1:{port}", tmp_path / "data", process, log_path)
    try:
        wait_until_up(app)
        client = openai.OpenAI(base_url=app.url + "/v1", api_key=LITELLM_MASTER_KEY, max_retries=0)
        answer = client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": PROMPT}])
        assert answer.choices[0].message.content == "Echo: " + PROMPT
        log = wait_until(lambda: app.log() if "azure-nested" in app.log() else None, "the migration report in the log")
        assert "LiteLLM model_list: 21 entries" in log and 'model_list[18] "broken": skipped' in log
    finally:
        app.stop()


"""The declarative YAML config: apply, idempotence, env substitution, errors, export round-trip."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from services.catalog.config_export import export_config, secret_variable
from services.catalog.config_file import apply_config_file
from services.db import sqlite_url
from services.errors import ConfigError
from services.hub import Hub
from services.tables import LogicalModel, ModelRoute, Provider, ProviderKey
from tests import databases
from tests.conftest import ROOT, child_env
from tests.factories import TEST_ACTOR, local_hub, open_database

CONFIG = """
providers:
  - name: openai-main
    kind: openai
    base_url: https://api.openai.com/v1
    keys:
      - label: primary
        secret: ${OPENAI_KEY_1}
        weight: 1
        rpm: 500
      - label: backup
        secret: ${OPENAI_KEY_2}
        monthly_usd: 25.5
  - name: anthropic-main
    kind: anthropic
    keys:
      - label: primary
        secret: ${ANTHROPIC_KEY}
        priority: 2
        enabled: false
models:
  - name: smart
    description: the best we have
    routes:
      - provider: openai-main
        model: gpt-4o
        priority: 1
      - provider: anthropic-main
        model: claude-sonnet-4-5
        priority: 2
"""
SECRETS = {"OPENAI_KEY_1": "sk-openai-one-1111", "OPENAI_KEY_2": "sk-openai-two-2222", "ANTHROPIC_KEY": "sk-ant-three-3333"}


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    with local_hub(tmp_path / "data") as hub:
        yield hub


def write(tmp_path: Path, text: str, name: str = "llmhub.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def snapshot(hub: Hub) -> list[tuple]:
    """Every catalog row as comparable tuples (including encrypted secrets and update times)."""
    with Session(hub.engine) as session:
        tables = (Provider, ProviderKey, LogicalModel, ModelRoute)
        return [tuple(row.model_dump().values()) for table in tables for row in session.exec(select(table))]


def test_apply_creates_everything_then_a_second_apply_changes_nothing(hub: Hub, tmp_path: Path) -> None:
    path = write(tmp_path, CONFIG)
    report = apply_config_file(path, hub=hub)
    assert (report.providers.created, report.keys.created, report.models.created, report.changes) == (2, 3, 1, 6)
    keys = {(k.provider, k.label): k for k in hub.catalog.list_keys()}
    assert keys["openai-main", "primary"].rpm == 500
    assert keys["openai-main", "backup"].monthly_usd == 25.5
    assert (keys["anthropic-main", "primary"].priority, keys["anthropic-main", "primary"].enabled) == (2, False)
    assert [r.upstream_model for r in hub.table.models["smart"]] == ["gpt-4o", "claude-sonnet-4-5"]
    assert {k.secret for ks in hub.table.keys_by_provider.values() for k in ks} == set(SECRETS.values())
    before = snapshot(hub)
    again = apply_config_file(path, hub=hub)
    assert again.changes == 0 and (again.providers.unchanged, again.keys.unchanged, again.models.unchanged) == (2, 3, 1)
    assert snapshot(hub) == before
    assert "0 updated" in str(again)


def test_env_substitution_inside_strings_and_updates_in_place(hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_HOST", "10.0.0.7:8000")
    text = "providers:\n  - name: vllm\n    kind: openai_compatible\n    base_url: http://${GATEWAY_HOST}/v1\n" \
           "    keys:\n      - {label: a, secret: 'tok-${OPENAI_KEY_1}', rpm: 5}\n"
    apply_config_file(write(tmp_path, text), hub=hub)
    provider = hub.catalog.get_provider("vllm")
    assert provider.base_url == "http://10.0.0.7:8000/v1"
    assert hub.table.keys_of(provider.id)[0].secret == "tok-" + SECRETS["OPENAI_KEY_1"]
    monkeypatch.setenv("OPENAI_KEY_1", "sk-rotated-secret-4444")
    report = apply_config_file(write(tmp_path, text.replace(", rpm: 5", "")), hub=hub)
    assert (report.providers.unchanged, report.keys.updated) == (1, 1)
    key = hub.catalog.get_provider("vllm").keys[0]
    assert (key.id, key.rpm, key.secret_masked) == (provider.keys[0].id, None, "…4444")


def test_items_missing_from_the_file_are_kept_and_listed_models_get_exactly_the_file_routes(hub: Hub, tmp_path: Path) -> None:
    apply_config_file(write(tmp_path, CONFIG), hub=hub)
    hub.catalog.create_provider(TEST_ACTOR, {"name": "console-made", "kind": "ollama", "keys": [{"label": "k", "secret": "ollama"}]})
    hub.catalog.create_key(TEST_ACTOR, "openai-main", {"label": "console-key", "secret": "sk-console-5555"})
    smart = hub.catalog.get_model("smart")
    routes = [*(r.model_dump() for r in smart.routes), {"provider": "console-made", "model": "llama3"}]
    hub.catalog.replace_model(TEST_ACTOR, "smart", {"name": "smart", "routes": routes})
    report = apply_config_file(write(tmp_path, CONFIG), hub=hub)
    assert (report.models.updated, report.changes) == (1, 1)
    assert [r.provider for r in hub.catalog.get_model("smart").routes] == ["openai-main", "anthropic-main"]
    assert hub.catalog.get_provider("console-made").keys[0].label == "k"
    assert "console-key" in [k.label for k in hub.catalog.get_provider("openai-main").keys]


def test_routes_may_name_a_provider_that_is_only_in_the_database(hub: Hub, tmp_path: Path) -> None:
    hub.catalog.create_provider(TEST_ACTOR, {"name": "made-in-console", "kind": "gemini"})
    text = "models:\n  - name: fast\n    routes:\n      - {provider: made-in-console, model: gemini-2.5-flash}\n"
    assert apply_config_file(write(tmp_path, text), hub=hub).models.created == 1


BROKEN = {
    "yaml syntax": ("providers:\n  - name: [unclosed\n", "invalid YAML at line"),
    "unknown kind": (CONFIG.replace("kind: anthropic", "kind: anthropix"), 'providers[1] "anthropic-main": kind: Input should be'),
    "missing secret": (
        CONFIG.replace("        secret: ${ANTHROPIC_KEY}\n", ""),
        'providers[1] "anthropic-main" keys[0] "primary": secret: Field required',
    ),
    "unknown route provider": (
        CONFIG.replace("provider: anthropic-main", "provider: anthropic-backup"),
        "models[0] \"smart\": routes[1].provider: no provider named 'anthropic-backup'",
    ),
    "unset variable": (
        CONFIG.replace("${OPENAI_KEY_2}", "${NOT_SET_ANYWHERE}"),
        'providers[0] "openai-main" keys[1] "backup": secret: environment variable NOT_SET_ANYWHERE is not set',
    ),
    "bad number": (
        CONFIG.replace("rpm: 500", "rpm: lots"),
        'providers[0] "openai-main" keys[0] "primary": rpm: Input should be a valid integer',
    ),
    "zero weight": (CONFIG.replace("weight: 1", "weight: 0"), 'keys[0] "primary": weight: Input should be greater than or equal to 1'),
    "typo in a field": (CONFIG.replace("rpm: 500", "rmp: 500"), 'keys[0] "primary": rmp: unknown field'),
    "duplicate model": (
        CONFIG + "  - {name: x, routes: [{provider: openai-main, model: a}]}\n  - {name: x, routes: [{provider: openai-main, model: b}]}\n",
        'models[2] "x": name: the same name as models[1]',
    ),
    "compatible without url": (
        CONFIG.replace("kind: anthropic", "kind: openai_compatible"),
        'providers[1] "anthropic-main": base_url: an openai_compatible provider needs a base_url',
    ),
    "not a mapping": ("- just\n- a list\n", "the top level must be a mapping"),
    "short master key": (
        CONFIG + "master_keys:\n  - {label: ci, key: sk-1234}\n", 'master_keys[0] "ci": key: must be at least 8 characters'
    ),
    "duplicate master key": (
        CONFIG + "master_keys:\n  - {label: ci, key: sk-ci-0000000001}\n  - {label: ci, key: sk-ci-0000000002}\n",
        'master_keys[1] "ci": name: the same name as master_keys[0]',
    ),
}


@pytest.mark.parametrize("case", BROKEN)
def test_invalid_config_names_file_item_and_problem_and_writes_nothing(hub: Hub, tmp_path: Path, case: str) -> None:
    text, expected = BROKEN[case]
    path = write(tmp_path, text, "bad.yaml")
    with pytest.raises(ConfigError) as caught:
        apply_config_file(path, hub=hub)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and expected in message, message
    assert "\n" not in message
    assert snapshot(hub) == []


def test_master_keys_are_set_hashed_and_a_second_apply_changes_nothing(hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI_MASTER_KEY", "sk-ci-master-000111")
    path = write(tmp_path, CONFIG + "master_keys:\n  - label: ci\n    key: ${CI_MASTER_KEY}\n")
    preview = apply_config_file(path, hub=hub, dry_run=True)
    assert [(i.kind, i.name, i.change) for i in preview.items if i.kind == "master_key"] == [("master_key", "ci", "created")]
    report = apply_config_file(path, hub=hub)
    assert (report.master_keys.created, report.changes) == (1, 7) and "master keys 1 created" in str(report)
    assert hub.tokens.authenticate("sk-ci-master-000111").role == "admin"
    assert apply_config_file(path, hub=hub).changes == 0
    with hub.engine.connect() as db:
        stored = json.dumps(db.execute(text("select value from appsetting where key = 'master_keys'")).scalar_one())
    assert "sk-ci-master-000111" not in stored and "0111" in stored  # hashed, with its last four for the console


def test_dry_run_reports_without_writing(hub: Hub, tmp_path: Path) -> None:
    report = apply_config_file(write(tmp_path, CONFIG), hub=hub, dry_run=True)
    assert report.dry_run and report.changes == 6
    assert snapshot(hub) == [] and hub.table.providers == {}


def test_export_reimports_without_leaking_secrets(hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    apply_config_file(write(tmp_path, CONFIG), hub=hub)
    hub.catalog.update_key(TEST_ACTOR, hub.catalog.list_keys("openai-main")[0].id, {"tpm": 9000})
    exported = export_config(hub, TEST_ACTOR)
    assert not any(secret in exported for secret in SECRETS.values())
    assert "${LLMHUB_KEY_OPENAI_MAIN_PRIMARY}" in exported and "${LLMHUB_KEY_ANTHROPIC_MAIN_PRIMARY}" in exported
    for key in hub.catalog.list_keys():
        secret = next(k.secret for k in hub.table.keys_of(key.provider_id) if k.id == key.id)
        monkeypatch.setenv(secret_variable(key.provider, key.label), secret)
    path = write(tmp_path, exported, "exported.yaml")
    assert apply_config_file(path, hub=hub).changes == 0
    with local_hub(tmp_path / "fresh", database_url=sqlite_url(tmp_path / "fresh.db")) as fresh:  # its own, empty
        apply_config_file(path, hub=fresh)
        assert export_config(fresh, TEST_ACTOR) == exported
        assert [m.model_dump(exclude={"id", "created_at", "updated_at"}) for m in fresh.catalog.list_models()] == [
            m.model_dump(exclude={"id", "created_at", "updated_at"}) for m in hub.catalog.list_models()
        ]


def test_run_py_exits_2_with_one_line_on_a_bad_config(tmp_path: Path) -> None:
    path = write(tmp_path, CONFIG.replace("kind: anthropic", "kind: anthropix"), "bad.yaml")
    data_dir = tmp_path / "data"
    databases.CURRENT.fresh()
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py")], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env=child_env(LLMHUB_CONFIG=str(path), LLMHUB_DATA_DIR=str(data_dir), LLMHUB_PORT="9", **SECRETS, **databases.CURRENT.env()),
    )
    assert result.returncode == 2, result.stderr
    problems = [line for line in result.stderr.splitlines() if " INFO " not in line]  # start-up log lines aside
    assert len(problems) == 1 and problems[0].startswith(f"llmhub: {path}: providers[1] \"anthropic-main\": kind:"), result.stderr
    engine = open_database(data_dir)
    with engine.connect() as db:
        assert db.execute(text("select count(*) from provider")).scalar_one() == 0
    engine.dispose()

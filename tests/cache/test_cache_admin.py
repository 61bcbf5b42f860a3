"""Running the response cache: a model's settings through ``PATCH /api/models/{name}``, purges, the usage
filter and export columns, and the ``/metrics`` counters — against a running hub and the emulator."""

from __future__ import annotations

import csv
import io
import sqlite3
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import MASTER_KEY, RunningApp
from tests.factories import hub_process, user_with_token, wait_for_usage
from tests.upstream_emulator import EmulatorHandle

CONFIG = """
providers:
  - name: emu
    kind: openai
    base_url: {url}/v1
    keys:
      - label: primary
        secret: ok#cache-admin
models:
  - name: alpha
    cache: true
    routes:
      - provider: emu
        model: gpt-4o-mini
        price: {{input: "1", output: "1"}}
  - name: beta
    routes:
      - provider: emu
        model: gpt-4o-mini
"""


@pytest.fixture(scope="module")
def hub_app(emulator: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with hub_process(tmp_path_factory.mktemp("cache-admin"), CONFIG, emulator) as app:
        yield app


def ask(app: RunningApp, model: str, text: str, token: str = MASTER_KEY) -> httpx.Response:
    with app.client(token) as client:
        response = client.post("/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": text}]})
    assert response.status_code == 200, response.text
    return response


def audit_events(app: RunningApp) -> set[tuple[str, str]]:
    with sqlite3.connect(app.data_dir / "llmhub.db") as db:
        return set(db.execute("SELECT action, target FROM auditevent"))


def cache_of(app: RunningApp, model: str, text: str, token: str = MASTER_KEY) -> str:
    return ask(app, model, text, token).headers.get("x-llmhub-cache", "none")


def test_patch_turns_a_models_cache_on_and_off_and_keeps_its_routes(hub_app: RunningApp) -> None:
    text = f"patch {uuid.uuid4().hex}"
    with hub_app.client() as admin:
        before = admin.get("/api/models/beta").json()
        patched = admin.patch("/api/models/beta", json={"cache": {"ttl_seconds": 60, "scope": "person"}})
        assert patched.status_code == 200, patched.text
        assert patched.json()["cache"]["scope"] == "person" and patched.json()["cache"]["ttl_seconds"] == 60
        assert patched.json()["routes"] == before["routes"]
        assert [cache_of(hub_app, "beta", text) for _ in range(2)] == ["miss", "hit"]
        assert admin.patch("/api/models/beta", json={"cache": False}).json()["cache"] is None
        assert cache_of(hub_app, "beta", text) == "none"
        exported = admin.get("/api/config/export").text
        assert "cache: true" in exported or "cache: {}" in exported
    assert ("model.update", "beta") in audit_events(hub_app)


def test_patch_refuses_bad_settings_and_fields_it_does_not_take(hub_app: RunningApp) -> None:
    with hub_app.client() as admin:
        for body, field in (({"cache": {"scope": "world"}}, "cache"), ({"cache": {"threshold": 2}}, "cache"),
                            ({"routes": []}, "routes"), ({"enabled": None}, "enabled")):
            response = admin.patch("/api/models/alpha", json=body)
            assert response.status_code == 400, (body, response.text)
            assert response.json()["error"]["param"].startswith(field), response.json()
        assert admin.patch("/api/models/nothing", json={"cache": True}).status_code == 404


def test_purges_by_model_by_token_and_all(hub_app: RunningApp) -> None:
    holder = user_with_token(hub_app, "carol@example.com", "correct horse battery", "carol-1")
    mine, theirs = f"mine {uuid.uuid4().hex}", f"theirs {uuid.uuid4().hex}"
    ask(hub_app, "alpha", mine, holder.token)
    ask(hub_app, "alpha", theirs)
    with hub_app.client() as admin:
        token_id = wait_for_usage(hub_app, model="alpha", user_id=holder.id)[0]["token_id"]
        refused = admin.post("/api/cache/purge", json={"model": "alpha", "all": True})
        assert refused.status_code == 400, refused.text
        assert admin.post("/api/cache/purge", json={"token_id": token_id}).json() == {"purged": 1}
        assert cache_of(hub_app, "alpha", mine, holder.token) == "miss" and cache_of(hub_app, "alpha", theirs) == "hit"
        assert admin.post("/api/cache/purge", json={"model": "alpha"}).json()["purged"] == 2
        assert cache_of(hub_app, "alpha", theirs) == "miss"
        assert admin.post("/api/cache/purge", json={"all": True}).json()["purged"] >= 1  # with what other tests left
        assert cache_of(hub_app, "alpha", theirs) == "miss"
    assert {("cache.purge", f"token:{token_id}"), ("cache.purge", "model:alpha"), ("cache.purge", "all")} <= audit_events(hub_app)
    with hub_app.client(holder.token) as client:
        assert client.post("/api/cache/purge", json={"all": True}).status_code == 403
    with hub_app.client() as admin:
        spec = admin.get("/api/openapi.json").json()
        assert "/api/cache/purge" in spec["paths"] and "patch" in spec["paths"]["/api/models/{name}"]


def test_usage_filter_export_and_metrics_tell_hits_apart(hub_app: RunningApp) -> None:
    text = f"metered {uuid.uuid4().hex}"
    ask(hub_app, "alpha", text)
    hit = ask(hub_app, "alpha", text)
    [row] = wait_for_usage(hub_app, request_id=hit.headers["x-llmhub-request-id"])
    with hub_app.client() as admin:
        hits = admin.get("/api/usage", params={"cache_hit": "true", "limit": 1000}).json()["data"]
        others = admin.get("/api/usage", params={"cache_hit": "false", "limit": 1000}).json()["data"]
        assert row["id"] in {r["id"] for r in hits} and row["id"] not in {r["id"] for r in others}
        assert all(r["cache_hit"] for r in hits) and not any(r["cache_hit"] for r in others)
        exported = admin.get("/api/usage/export", params={"format": "csv", "range": "24h"})
        assert exported.status_code == 200, exported.text
        lines = {r["request_id"]: r for r in csv.DictReader(io.StringIO(exported.text))}
        line = lines[row["request_id"]]
        assert line["cache_hit"] == "True" and line["cost_usd"] == "0" and float(line["cost_saved_usd"]) > 0
        metrics = admin.get("/metrics").text
    assert 'llmhub_cache_hits_total{model="alpha"}' in metrics and 'llmhub_cache_misses_total{model="alpha"}' in metrics
    assert 'llmhub_cache_saved_usd_total{model="alpha"}' in metrics


def test_an_answer_past_its_ttl_is_not_served(hub_app: RunningApp) -> None:
    text = f"ttl {uuid.uuid4().hex}"
    with hub_app.client() as admin:
        assert admin.patch("/api/models/alpha", json={"cache": {"ttl_seconds": 1}}).status_code == 200
        try:
            assert [cache_of(hub_app, "alpha", text) for _ in range(2)] == ["miss", "hit"]
            time.sleep(1.2)
            assert [cache_of(hub_app, "alpha", text) for _ in range(2)] == ["miss", "hit"]
        finally:
            admin.patch("/api/models/alpha", json={"cache": True})

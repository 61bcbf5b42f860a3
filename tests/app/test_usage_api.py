"""The usage API, /metrics and /health against a running LLM Hub and the upstream emulator."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

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
        secret: ok#usage-api-1
  - name: flaky
    kind: openai
    base_url: {url}/v1
    keys:
      - label: limited
        secret: rate-limit:60#usage-api-2
models:
  - name: smart
    routes:
      - provider: flaky
        model: gpt-4o
        priority: 1
      - provider: emu
        model: gpt-4o
        priority: 2
"""


@pytest.fixture
def running(emulator: EmulatorHandle, tmp_path: Path) -> Iterator[tuple[RunningApp, str]]:
    """A hub with one user; yields it and the user's token."""
    with hub_process(tmp_path, CONFIG, emulator) as app:
        yield app, user_with_token(app, "uma@example.com", "uma-password-1", "uma-cli").token


def _chat(app: RunningApp, token: str, text: str) -> None:
    with app.client(token) as client:
        client.post("/v1/chat/completions", json={"model": "smart", "messages": [{"role": "user", "content": text}]}).raise_for_status()


def test_exports_aggregates_metrics_and_health(running: tuple[RunningApp, str]) -> None:
    app, uma = running
    for text in ("one", "two"):
        _chat(app, MASTER_KEY, text)
    _chat(app, uma, "three words here")
    wait_for_usage(app, count=3)

    with app.client() as admin:
        response = admin.get("/api/usage/export", params={"format": "csv", "kind": "records", "range": "24h"})
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        assert 'filename="llmhub-usage-records_' in response.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert len(rows) == 3 and {r["user"] for r in rows} == {"master key", "uma@example.com"}
        assert all("flaky/gpt-4o [limited]" in r["route"] and r["route"].endswith("served") for r in rows)
        assert "usage-api" not in response.text  # no key secret anywhere

        aggregate = admin.get("/api/usage/aggregate", params={"range": "7d", "sort": "requests"}).json()
        assert aggregate["range"]["bucket"] == "hour" and aggregate["total"] == 2
        assert [(r["user"], r["requests"]) for r in aggregate["data"]] == [("master key", 2), ("uma@example.com", 1)]

        metrics = admin.get("/metrics")
        assert metrics.status_code == 200
        assert 'llmhub_requests_total{model="smart",provider="emu",status="ok"} 3.0' in metrics.text
        assert 'llmhub_cooldowns_total{provider="flaky"}' in metrics.text
        assert 'llmhub_deployments{provider="flaky",status="cooling"} 1.0' in metrics.text  # a 429 cools the model, not the key
        assert 'llmhub_keys{provider="flaky",status="active"} 1.0' in metrics.text

    with app.client(uma) as client:
        own = client.get("/api/usage/export", params={"format": "json", "kind": "records", "user_id": 0}).json()
        assert [r["user"] for r in own] == ["uma@example.com"]
        assert client.get("/api/usage/aggregate").json()["total"] == 1
        assert client.get("/metrics").status_code == 403
        bad = client.get("/api/usage/export", params={"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_range"

    health = httpx.get(app.url + "/health").json()
    flaky = health["provider_status"]["flaky"]
    assert flaky["status"] == "degraded" and flaky["keys"]["active"] == 1
    assert [(d["key"], d["model"], d["status"]) for d in flaky["deployments"]] == [("limited", "gpt-4o", "cooling")]
    assert health["provider_status"]["emu"] == {"status": "ok", "kind": "openai", "circuit": "closed", "deployments": [],
                                                "keys": {"active": 1, "cooling": 0, "invalid": 0, "exhausted": 0, "disabled": 0}}


def test_records_export_with_bodies_holds_the_redacted_logged_bodies(running: tuple[RunningApp, str]) -> None:
    app, uma = running
    _chat(app, uma, "before logging")
    with app.client() as admin:
        admin.patch("/api/settings/usage", json={"log_bodies": True}).raise_for_status()
    _chat(app, MASTER_KEY, "my key is sk-proj-abcdefghijklmnop1234")
    _chat(app, uma, "uma private words")
    wait_for_usage(app, count=3)

    with app.client() as admin:
        records = admin.get("/api/usage/export", params={"format": "json", "bodies": "true"}).json()
        assert [r["request_body"] and r["request_body"]["messages"][0]["content"] for r in records] == [
            None, "my key is [redacted]", "uma private words"]
        assert records[0]["response_body"] is None
        assert records[1]["response_body"]["choices"][0]["message"]["content"] == "Echo: my key is [redacted]"
        as_csv = admin.get("/api/usage/export", params={"format": "csv", "bodies": "true"})
        assert as_csv.status_code == 200 and "abcdefghijklmnop1234" not in as_csv.text
        rows = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert (rows[0]["request_body"], rows[0]["response_body"]) == ("", "")
        assert json.loads(rows[1]["request_body"])["messages"] == [{"role": "user", "content": "my key is [redacted]"}]
        assert '"content":"Echo: uma private words"' in rows[2]["response_body"]
        assert "request_body" not in admin.get("/api/usage/export", params={"format": "csv"}).text
        refused = admin.get("/api/usage/export", params={"kind": "aggregate", "bodies": "true"})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_export"
        assert refused.json()["error"]["param"] == "bodies"

    with app.client(uma) as client:
        own = client.get("/api/usage/export", params={"format": "json", "bodies": "true", "user_id": 0}).json()
        assert [r["request_body"] and r["request_body"]["messages"][0]["content"] for r in own] == [None, "uma private words"]

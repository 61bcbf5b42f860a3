"""Budgets, alerts, usage settings and one record's detail through /api, on a running LLM Hub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningApp
from tests.factories import hub_process, user_with_token, wait_for_usage
from tests.upstream_emulator import EmulatorHandle

CONFIG = """
providers:
  - name: emu
    kind: openai
    base_url: {url}/v1
    keys:
      - label: primary
        secret: ok#budgets-api-1
models:
  - name: smart
    routes:
      - provider: emu
        model: gpt-4o
"""
LEAKY = "here is my key sk-proj-abcdefghijklmnop1234"


@pytest.fixture
def running(emulator: EmulatorHandle, tmp_path: Path) -> Iterator[tuple[RunningApp, int, str]]:
    """A hub with one user (its id and token)."""
    with hub_process(tmp_path, CONFIG, emulator) as app:
        vic = user_with_token(app, "vic@example.com", "vic-password-1", "vic-cli")
        yield app, vic.id, vic.token


def chat(client: httpx.Client, text: str = "hi") -> httpx.Response:
    return client.post("/v1/chat/completions", json={"model": "smart", "messages": [{"role": "user", "content": text}]})


def test_a_person_budget_set_through_the_api_stops_their_calls(running: tuple[RunningApp, int, str]) -> None:
    app, user_id, token = running
    wes = user_with_token(app, "wes@example.com", "wes-password-1", "wes-cli")
    with app.client() as admin, app.client(token) as vic:
        assert admin.put(f"/api/budgets/users/{wes.id}", json={"monthly_budget_usd": 5}).status_code == 200
        assert admin.put(f"/api/budgets/users/{user_id}", json={"monthly_budget_usd": 0.000001}).status_code == 200
        assert chat(vic).status_code == 200  # admitted under budget; its cost uses it up
        refused = chat(vic)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "user_budget_exceeded"
        lines = {(line["kind"], line["name"]): line for line in admin.get("/api/budgets").json()["data"]}
        assert lines[("user", "vic@example.com")]["budget_usd"] == 0.000001 and ("user", "wes@example.com") in lines
        own = vic.get("/api/budgets")
        assert own.status_code == 200  # a user may read their own budget lines, and no one else's
        assert {(line["kind"], line["name"]) for line in own.json()["data"] if line["kind"] == "user"} == {("user", "vic@example.com")}
        assert vic.put(f"/api/budgets/users/{user_id}", json={"monthly_budget_usd": 100}).status_code == 403
        assert admin.put(f"/api/budgets/users/{user_id}", json={"monthly_budget_usd": None}).status_code == 200
        assert chat(vic).status_code == 200


def test_budget_input_errors_are_clear(running: tuple[RunningApp, int, str]) -> None:
    app, _, _ = running
    with app.client() as admin:
        negative = admin.put("/api/budgets/users/1", json={"monthly_budget_usd": -5})
        assert negative.status_code == 400 and negative.json()["error"]["param"]
        missing = admin.put("/api/budgets/users/999", json={"monthly_budget_usd": 5})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "user_not_found"


def test_body_logging_switched_on_through_the_api_shows_in_the_record_detail(running: tuple[RunningApp, int, str]) -> None:
    app, _, token = running
    with app.client() as admin, app.client(token) as vic:
        assert admin.get("/api/settings/usage").json()["log_bodies"] is False
        assert chat(vic, "before").status_code == 200
        changed = admin.patch("/api/settings/usage", json={"log_bodies": True})
        assert changed.status_code == 200 and changed.json()["log_bodies"] is True
        assert chat(vic, LEAKY).status_code == 200
        newest, older = wait_for_usage(app, count=2)[:2]
        detail = vic.get(f"/api/usage/{newest['id']}").json()
        assert detail["request_body"]["messages"][0]["content"] == "here is my key [redacted]"
        assert detail["response_body"]["choices"][0]["message"]["content"].startswith("Echo: here is my key")
        assert "sk-proj-abcdefghijklmnop1234" not in str(detail)
        assert admin.get(f"/api/usage/{older['id']}").json()["request_body"] is None  # before logging was on
        assert vic.get("/api/settings/usage").status_code == 403
        assert admin.get("/api/usage/987654").status_code == 404


def test_a_bad_setting_changes_nothing(running: tuple[RunningApp, int, str]) -> None:
    app, _, _ = running
    with app.client() as admin:
        before = admin.get("/api/settings/usage").json()
        refused = admin.patch("/api/settings/usage", json={"log_bodies": True, "retention_days": 3})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_setting"
        assert "31" in refused.json()["error"]["message"]
        assert admin.get("/api/settings/usage").json() == before
        hooked = admin.patch("/api/settings/usage", json={"alert_levels": [50, 100], "webhook_url": "https://hooks.example.com/t/s3cret"})
        assert hooked.json()["alert_levels"] == [50, 100] and hooked.json()["webhook_url_set"] is True
        assert "s3cret" not in hooked.text
        bad_hook = admin.patch("/api/settings/usage", json={"webhook_url": "ftp://nope"})
        assert bad_hook.status_code == 400


def test_alerts_list_and_acknowledge(running: tuple[RunningApp, int, str]) -> None:
    app, user_id, token = running
    with app.client() as admin, app.client(token) as vic:
        admin.put(f"/api/budgets/users/{user_id}", json={"monthly_budget_usd": 0.000001})
        chat(vic)
        wait_for_usage(app)
        assert vic.post("/api/alerts/check").status_code == 403
        fired = admin.post("/api/alerts/check").json()["data"]
        assert {alert["kind"] for alert in fired} == {"user_budget"}
        assert admin.post("/api/alerts/check").json()["data"] == []  # each threshold fires once per period
        alerts = vic.get("/api/alerts", params={"open_only": True}).json()
        assert alerts["total"] == len(fired) and alerts["data"][0]["message"]
        assert vic.post("/api/alerts/acknowledge", json={"ids": None}).json()["acknowledged"] >= 1
        assert vic.get("/api/alerts", params={"open_only": True}).json()["total"] == 0

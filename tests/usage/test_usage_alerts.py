"""Alerts: thresholds fire once per period, land in the audit log, reach the webhook in the
background, and a broken webhook never raises."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from services.accounts.audit import AuditFilter, list_events
from services.errors import SettingError
from services.gateway.secret_values import secret_pattern
from services.usage import alerts
from services.usage.alerts import (
    acknowledge,
    check_alerts,
    list_alerts,
    open_alert_count,
    post_webhook,
    run_alert_check,
)
from services.usage.budgets import set_user_budget
from services.usage.queries import ADMIN, Viewer
from services.usage.settings import (
    AlertSettings,
    alert_settings,
    redact,
    set_alert_settings,
)
from tests.factories import NOW, TEST_ACTOR, add_people, fresh_engine, usage_row, write_rows


@pytest.fixture
def people(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = fresh_engine(tmp_path)
    return engine, add_people(engine)


def _kinds(events) -> list[tuple[str, str, int]]:  # type: ignore[no-untyped-def]
    return sorted((e.kind, e.subject, e.level) for e in events)


def test_a_key_quota_fires_at_80_and_100_percent_once_per_day(people) -> None:  # type: ignore[no-untyped-def]
    engine, ids = people
    key = f"key:{ids['primary']}"
    write_rows(engine, [usage_row(key_id=ids["primary"], prompt_tokens=400, completion_tokens=450)])  # 850 of 1,000 tokens today
    assert _kinds(check_alerts(engine, NOW)) == [("key_daily_tokens", key, 80)]
    assert check_alerts(engine, NOW + timedelta(minutes=1)) == []  # no spam
    write_rows(engine, [usage_row(key_id=ids["primary"], prompt_tokens=200, completion_tokens=0)])
    fired = check_alerts(engine, NOW + timedelta(minutes=2))
    assert _kinds(fired) == [("key_daily_tokens", key, 100)]
    assert fired[0].message == "100% of the daily token limit of key emu/primary reached: 1,050 of 1,000 tokens."
    audit, total = list_events(engine, AuditFilter(action_prefix="alert."))
    assert total == 2 and audit[0].target == key
    next_day = NOW + timedelta(days=1)
    write_rows(engine, [usage_row(key_id=ids["primary"], prompt_tokens=900, completion_tokens=0, created_at=next_day)])
    assert _kinds(check_alerts(engine, next_day)) == [("key_daily_tokens", key, 80)]  # a new period fires again


def test_token_and_user_budgets_alert_their_owner(people) -> None:  # type: ignore[no-untyped-def]
    engine, ids = people
    set_user_budget(engine, TEST_ACTOR, ids["bob"], 2_000_000)
    write_rows(engine, [usage_row(user_id=ids["bob"], token_id=ids["bob_token"], cost_micros=1_700_000)])  # bob-ci budget is $1
    fired = check_alerts(engine, NOW)
    assert _kinds(fired) == [("token_budget", f"token:{ids['bob_token']}", 80), ("token_budget", f"token:{ids['bob_token']}", 100),
                             ("user_budget", f"user:{ids['bob']}", 80)]
    bob, ann = Viewer(ids["bob"], False), Viewer(ids["ann"], False)
    assert list_alerts(engine, bob)[1] == 3 and list_alerts(engine, ann)[1] == 0 and open_alert_count(engine, ADMIN, NOW) == 3
    assert acknowledge(engine, alerts.MONITOR, bob, None) == 3
    assert open_alert_count(engine, bob, NOW) == 0


def test_a_provider_error_rate_alert_needs_enough_calls(people) -> None:  # type: ignore[no-untyped-def]
    engine, _ = people
    failed = [{"provider": "emu", "model": "gpt-4o", "key_id": 1, "outcome": "failed", "reason": "upstream_5xx", "status": 500}]
    write_rows(engine, [usage_row(status="error", provider_name=None, key_id=None, attempts=failed) for _ in range(4)])
    settings = AlertSettings(error_rate_percent=30, error_min_calls=5)
    assert check_alerts(engine, NOW, settings) == []  # 4 calls: too few to judge
    write_rows(engine, [usage_row()])
    assert _kinds(check_alerts(engine, NOW, settings)) == [("error_rate", "provider:emu", 30)]  # 4 of 5 failed


def test_webhook_failures_are_logged_never_raised(people, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    engine, ids = people
    received: list[dict] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "down.example":
            raise httpx.ConnectError("refused")
        received.append(json.loads(request.content))
        return httpx.Response(500 if request.url.host == "broken.example" else 204)

    async def scenario() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            assert await post_webhook(client, "http://down.example/hook", {"x": 1}) is False
            assert await post_webhook(client, "http://broken.example/hook", {"x": 1}) is False
            set_alert_settings(engine, alerts.MONITOR, AlertSettings(webhook_url="http://down.example/hook"))
            await asyncio.to_thread(write_rows, engine, [usage_row(key_id=ids["primary"], prompt_tokens=990)])
            fired = await run_alert_check(engine, client, NOW)
            assert len(fired) == 1
            set_alert_settings(engine, alerts.MONITOR, AlertSettings(webhook_url="https://ok.example/hook"))
            await asyncio.to_thread(write_rows, engine, [usage_row(key_id=ids["primary"], prompt_tokens=100)])
            assert len(await run_alert_check(engine, client, NOW)) == 1
            await asyncio.gather(*alerts._webhook_tasks)

    asyncio.run(scenario())
    assert "alert webhook failed: ConnectError" in caplog.text and "answered 500" in caplog.text
    assert received[-1]["type"] == "llmhub.alert" and received[-1]["level"] == 100 and received[-1]["subject"] == f"key:{ids['primary']}"


def test_alert_settings_are_validated_and_the_webhook_url_stays_out_of_the_audit_log(people) -> None:  # type: ignore[no-untyped-def]
    engine, _ = people
    with pytest.raises(SettingError):
        set_alert_settings(engine, alerts.MONITOR, AlertSettings(levels=()))
    with pytest.raises(SettingError):
        set_alert_settings(engine, alerts.MONITOR, AlertSettings(webhook_url="ftp://x"))
    set_alert_settings(engine, alerts.MONITOR, AlertSettings(levels=(100, 50), webhook_url="https://hooks.example/T0K3N"))
    assert alert_settings(engine).levels == (50, 100)
    events, _ = list_events(engine, AuditFilter(action_prefix="settings.alerts"))
    assert "T0K3N" not in str(events[0].detail)


def test_redact_masks_secret_fields_and_secret_looking_strings() -> None:
    body = {"model": "smart", "max_tokens": 5, "api_key": "abc",
            "messages": [{"role": "user", "content": "my key is sk-abcdef1234567890 ok"}],
            "headers": {"Authorization": "Bearer llmh-xyz"}, "note": "custom-secret-value"}
    clean = redact(body, known_secrets=secret_pattern(["custom-secret-value"]))
    assert clean["max_tokens"] == 5 and clean["api_key"] == "[redacted]" and clean["headers"]["Authorization"] == "[redacted]"
    assert clean["messages"][0]["content"] == "my key is [redacted] ok" and clean["note"] == "[redacted]"


def test_a_service_accounts_private_key_is_masked_alone_and_piecewise() -> None:
    import orjson

    from services.gateway.secret_values import secret_parts
    from tests.emulator_vertex import throwaway_service_account

    account = throwaway_service_account("hub@p.iam.gserviceaccount.com")
    pattern = secret_pattern(secret_parts(orjson.dumps(account).decode()))
    body_lines = account["private_key"].splitlines()[1:-1]
    pasted = {"messages": [{"role": "user", "content": f"here: {account['private_key']} and {body_lines[3]}"},
                           {"role": "user", "content": f"email {account['client_email']} stays"}]}
    clean = redact(pasted, known_secrets=pattern)
    assert not any(line in clean["messages"][0]["content"] for line in body_lines)
    assert clean["messages"][1]["content"] == f"email {account['client_email']} stays"

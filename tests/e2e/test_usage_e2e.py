"""Usage analytics in a real browser, after real traffic through the emulator: charts that follow
the filters, CSV/JSON downloads, a user's own view, the failover trail in the request log, a quota
alert — and screenshots of the usage, logs, health and alerts pages."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import MASTER_KEY, RunningApp
from tests.e2e.conftest import (
    ADMIN_ENV,
    SCREENSHOTS,
    login,
    new_page,
    screenshot,
    signed_in_page,
)
from tests.factories import hub_process, user_with_token, wait_for_usage
from tests.upstream_emulator import EmulatorHandle

USER_EMAIL = "uma@example.com"
USER_PASSWORD = "uma's long password"
CONFIG = """
providers:
  - name: emu
    kind: openai
    base_url: {url}/v1
    keys:
      - label: primary
        secret: ok#usage-e2e-1
  - name: flaky
    kind: openai
    base_url: {url}/v1
    keys:
      - label: limited
        secret: rate-limit:60#usage-e2e-2
  - name: tiny
    kind: openai
    base_url: {url}/v1
    keys:
      - label: small-quota
        secret: ok#usage-e2e-3
        daily_tokens: 20
models:
  - name: smart
    routes:
      - provider: flaky
        model: gpt-4o
        priority: 1
      - provider: emu
        model: gpt-4o
        priority: 2
  - name: fast
    routes:
      - provider: emu
        model: gpt-4o-mini
  - name: small
    routes:
      - provider: tiny
        model: gpt-4o-mini
"""
TRAFFIC = {("admin", "smart"): 3, ("admin", "fast"): 2, ("user", "fast"): 2}
SMALL_CALLS = 6  # 3 tokens each ("hi" in, "Echo: hi" out): 18 of the key's 20 daily tokens, over 80 %
TOTAL = sum(TRAFFIC.values()) + SMALL_CALLS
SECRETS = ("usage-e2e-1", "usage-e2e-2", "usage-e2e-3", MASTER_KEY)
PAGES = {"usage": "/usage", "logs": "/logs", "health": "/provider-health", "alerts": "/alerts"}
READY = {"usage": ("kpi-requests", f"{TOTAL}"), "logs": ("request-log", f"of {TOTAL}"), "health": ("provider-emu", "primary"),
         "alerts": ("alert-list", "1-1 of 1")}
"""A text each page shows once its data is in (screenshots wait for it)."""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorHandle) -> Iterator[tuple[RunningApp, str]]:
    """One LLM Hub with traffic from the master key and from a user's token; yields it and that token."""
    with hub_process(tmp_path_factory.mktemp("usage-e2e"), CONFIG, emulator, env=ADMIN_ENV) as app:
        token = user_with_token(app, USER_EMAIL, USER_PASSWORD, "uma-notebook").token
        keys = {"admin": MASTER_KEY, "user": token}
        for (who, model), count in TRAFFIC.items():
            client = app.sdk(keys[who])
            for i in range(count):
                client.chat.completions.create(model=model, messages=[{"role": "user", "content": f"hello number {i}"}])
        small = app.sdk()
        for _ in range(SMALL_CALLS):
            small.chat.completions.create(model="small", messages=[{"role": "user", "content": "hi"}])
        wait_for_usage(app, count=TOTAL)
        yield app, token


@pytest.fixture
def admin(browser: Browser, hub: tuple[RunningApp, str]) -> Iterator[Page]:
    page = signed_in_page(browser, hub[0].url)
    yield page
    page.context.close()


def kpi(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.get_by_test_id(f"kpi-{name}").get_by_test_id("kpi-value")


def trace_names(page: Page, chart: str, count: int) -> list[str]:
    """The chart's trace names, once it has drawn ``count`` traces (charts redraw after the figures update)."""
    selector = f"[data-testid={chart}] .js-plotly-plot"
    page.wait_for_function(f"() => (document.querySelector('{selector}').data || []).length === {count}")
    return page.locator(selector).evaluate("el => el.data.map(t => t.name)")


def pick(page: Page, select: str, option: str) -> None:
    page.get_by_test_id(select).click()
    page.get_by_role("option", name=option, exact=True).click()


def download(page: Page, button: str) -> tuple[str, str]:
    with page.expect_download() as info:
        page.get_by_role("button", name=button).click()
    path = info.value.path()
    return info.value.suggested_filename, Path(path).read_text()


def open_usage(page: Page, url: str, expected_requests: int) -> None:
    page.goto(url + "/usage")
    expect(kpi(page, "requests")).to_have_text(f"{expected_requests:,}")


# -- the usage page -------------------------------------------------------------------------------


def test_charts_and_figures_follow_the_filters(admin: Page, hub: tuple[RunningApp, str]) -> None:
    url = hub[0].url
    open_usage(admin, url, TOTAL)
    assert sorted(trace_names(admin, "chart-requests", 3)) == ["fast", "small", "smart"]
    expect(admin.get_by_test_id("chart-errors")).to_contain_text("Error rate by provider")

    pick(admin, "filter-model", "fast")
    expect(kpi(admin, "requests")).to_have_text("4")
    assert trace_names(admin, "chart-requests", 1) == trace_names(admin, "chart-tokens", 1) == ["fast"]
    expect(admin.get_by_test_id("breakdown-table")).to_contain_text(USER_EMAIL)

    pick(admin, "stack-by", "Stack by user")
    assert sorted(trace_names(admin, "chart-requests", 2)) == ["master key", USER_EMAIL]

    admin.get_by_test_id("range-toggle").get_by_text("90d").click()
    expect(admin.get_by_test_id("range-note")).to_contain_text("daily buckets")
    expect(kpi(admin, "requests")).to_have_text("4")


def test_downloads_hold_the_filtered_rows_and_columns(admin: Page, hub: tuple[RunningApp, str]) -> None:
    url = hub[0].url
    open_usage(admin, url, TOTAL)
    name, text = download(admin, "Records CSV")
    assert name.startswith("llmhub-usage-records_") and name.endswith("_UTC.csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == TOTAL and {"request_id", "user", "model", "provider", "cost_usd", "route"} <= set(rows[0])
    assert not any(secret in text for secret in SECRETS)
    expect(admin.get_by_test_id("export-status")).to_contain_text(f"{TOTAL} rows")

    pick(admin, "filter-model", "smart")
    expect(kpi(admin, "requests")).to_have_text("3")
    _, text = download(admin, "Records JSON")
    records = json.loads(text)
    assert [r["model"] for r in records] == ["smart"] * 3 and all(r["provider"] == "emu" for r in records)
    _, text = download(admin, "Table CSV")
    table = list(csv.DictReader(io.StringIO(text)))
    assert [(r["user"], r["model"], r["requests"]) for r in table] == [("master key", "smart", "3")]
    name, text = download(admin, "Table JSON")
    assert name.startswith("llmhub-usage-aggregate_") and json.loads(text)[0]["requests"] == 3


def test_a_user_sees_only_their_own_numbers(browser: Browser, hub: tuple[RunningApp, str]) -> None:
    app, token = hub
    page = new_page(browser)
    try:
        login(page, app.url, USER_EMAIL, USER_PASSWORD)
        open_usage(page, app.url, 2)
        expect(page.get_by_test_id("filter-user")).to_be_hidden()
        assert trace_names(page, "chart-requests", 1) == ["fast"]
        expect(page.get_by_test_id("breakdown-table")).not_to_contain_text("master key")
        _, text = download(page, "Records CSV")
        assert {r["user"] for r in csv.DictReader(io.StringIO(text))} == {USER_EMAIL}
        page.goto(app.url + "/logs")
        expect(page.get_by_test_id("request-log")).to_contain_text("2 of 2")
        page.goto(app.url + "/provider-health")
        expect(page.get_by_test_id("not-allowed")).to_be_visible()
    finally:
        page.context.close()
    scripted = httpx.get(app.url + "/api/usage/export", params={"format": "json", "user_id": 0},
                         headers={"Authorization": f"Bearer {token}"})
    assert {r["user"] for r in scripted.json()} == {USER_EMAIL}


# -- request log, alerts --------------------------------------------------------------------------


def test_log_detail_shows_the_failover_trail(admin: Page, hub: tuple[RunningApp, str]) -> None:
    url = hub[0].url
    admin.goto(url + "/logs")
    log = admin.get_by_test_id("request-log")
    expect(log).to_contain_text(f"1-{TOTAL} of {TOTAL}")
    pick(admin, "filter-model", "smart")
    expect(log).to_contain_text("1-3 of 3")
    log.locator("tbody tr").last.click()  # the oldest smart call: the 429, then the failover
    detail = admin.get_by_test_id("request-detail")
    expect(detail).to_contain_text("emu/gpt-4o")
    trail = detail.get_by_test_id("attempt-trail")
    expect(trail.locator("tbody tr")).to_have_count(2)
    expect(trail.locator("tbody tr").first).to_contain_text("flaky/gpt-4o")
    expect(trail.locator("tbody tr").first).to_contain_text("failed")
    expect(trail.locator("tbody tr").first).to_contain_text("429")
    expect(trail.locator("tbody tr").last).to_contain_text("served")
    expect(admin.locator(".q-dialog [class*=q-transition]")).to_have_count(0)  # the dialog has finished fading in
    screenshot(admin, "logs-detail-light-1280")
    admin.get_by_role("button", name="Close").click()
    log.locator("tbody tr").first.click()  # a later one: flaky is still cooling, so it is skipped
    expect(admin.get_by_test_id("attempt-trail").locator("tbody tr").first).to_contain_text("cooling")


def test_filters_and_the_open_request_live_in_the_url(browser: Browser, admin: Page, hub: tuple[RunningApp, str]) -> None:
    """Reload, a new tab and Back all show what the URL names: the filters, the range, the open request."""
    url = hub[0].url
    open_usage(admin, url, TOTAL)
    pick(admin, "filter-model", "fast")
    admin.get_by_test_id("range-toggle").get_by_text("30d").click()
    expect(admin).to_have_url(re.compile(r"/usage\?.*range=30d"))
    expect(admin).to_have_url(re.compile(r"model=fast"))
    admin.reload()
    expect(kpi(admin, "requests")).to_have_text("4")
    expect(admin.get_by_test_id("filter-model")).to_have_value("fast")
    expect(admin.get_by_test_id("range-note")).to_contain_text("daily buckets")

    admin.goto(url + "/logs?model=smart")
    log = admin.get_by_test_id("request-log")
    expect(log).to_contain_text("1-3 of 3")
    time_cell = log.locator("tbody tr").first.locator("td").first
    expect(time_cell).to_have_text(re.compile(r"\d\d:\d\d:\d\d"))  # seconds, on one line
    assert time_cell.evaluate("td => getComputedStyle(td).whiteSpace") == "nowrap"
    log.locator("tbody tr").last.click()
    expect(admin.get_by_test_id("request-detail")).to_contain_text("flaky/gpt-4o")
    expect(admin).to_have_url(re.compile(r"/logs\?.*model=smart.*&request_id=\w+"))
    shared = admin.url
    request_id = shared.rsplit("request_id=", 1)[1]
    other = signed_in_page(browser, url)  # another browser: the link opens the same request
    other.goto(shared)
    expect(other.get_by_test_id("request-detail")).to_contain_text(request_id)
    expect(other.get_by_test_id("request-log")).to_contain_text("1-3 of 3")
    other.context.close()
    admin.go_back()  # Back closes the request it opened, and Forward opens it again
    expect(admin.get_by_test_id("request-detail")).to_have_count(0)
    expect(admin).not_to_have_url(re.compile("request_id="))
    admin.go_forward()
    expect(admin.get_by_test_id("request-detail")).to_contain_text(request_id)
    admin.get_by_role("button", name="Close").click()
    expect(admin).not_to_have_url(re.compile("request_id="))
    expect(admin.get_by_test_id("request-log")).to_contain_text("1-3 of 3")


def test_an_alert_appears_when_a_key_quota_crosses_its_threshold(admin: Page, hub: tuple[RunningApp, str]) -> None:
    url = hub[0].url
    admin.goto(url + "/alerts")
    admin.get_by_test_id("check-alerts").click()
    alerts = admin.get_by_test_id("alert-list")
    expect(alerts).to_contain_text("80% of the daily token limit of key tiny/small-quota reached: 18 of 20 tokens.")
    expect(admin.get_by_test_id("alerts-summary")).to_have_text("1 open alert")
    admin.get_by_test_id("check-alerts").click()  # checking again fires nothing new
    expect(admin.get_by_text("No new alerts")).to_be_visible()
    expect(alerts.locator("tbody tr")).to_have_count(1)
    expect(alerts).to_contain_text("1-1 of 1")
    open_usage(admin, url, TOTAL)
    expect(admin.get_by_test_id("alerts-banner")).to_contain_text("1 open alert")


# -- screenshots ----------------------------------------------------------------------------------


def _shoot(browser: Browser, url: str, state: dict, *, dark: bool) -> None:
    for width in (1280, 390):
        context = browser.new_context(viewport={"width": width, "height": 900}, storage_state=state)  # type: ignore[arg-type]
        context.set_default_timeout(10_000)
        page = context.new_page()
        for name, path in PAGES.items():
            page.goto(url + path)
            testid, text = READY[name]
            expect(page.get_by_test_id(testid)).to_contain_text(text, timeout=15_000)  # a cold first page build is slow on a busy machine
            page.wait_for_load_state("networkidle")
            screenshot(page, f"{name}-{'dark' if dark else 'light'}-{width}")
        context.close()


def test_screenshots(browser: Browser, admin: Page, hub: tuple[RunningApp, str]) -> None:
    url = hub[0].url
    state = admin.context.storage_state()
    _shoot(browser, url, state, dark=False)  # type: ignore[arg-type]
    admin.goto(url + "/alerts")
    admin.get_by_role("button", name="Toggle dark mode").click()
    expect(admin.locator("body.body--dark")).to_have_count(1)
    admin.wait_for_load_state("networkidle")
    try:
        _shoot(browser, url, state, dark=True)  # type: ignore[arg-type]
    finally:
        admin.get_by_role("button", name="Toggle dark mode").click()
    assert all((SCREENSHOTS / f"{name}-dark-390.png").exists() for name in PAGES)


# -- body logging (last: its call adds a record the tests above do not count) ------------------------


def test_body_logging_shows_redacted_bodies_in_the_log_detail(admin: Page, hub: tuple[RunningApp, str]) -> None:
    url = hub[0].url
    admin.goto(url + "/logs")
    admin.get_by_test_id("body-logging").get_by_text("Store request and response bodies").click()
    expect(admin.get_by_text("Body logging on")).to_be_visible()
    client = hub[0].sdk()
    client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "my key is sk-proj-abcdefghijklmnop1234"}])
    wait_for_usage(hub[0], count=TOTAL + 1)
    admin.reload()
    log = admin.get_by_test_id("request-log")
    expect(log).to_contain_text(f"of {TOTAL + 1}")
    log.locator("tbody tr").first.click()
    detail = admin.get_by_test_id("request-detail")
    expect(detail).to_contain_text("Request body")
    expect(detail).to_contain_text("my key is [redacted]")
    expect(detail).to_contain_text("Echo: my key is [redacted]")
    expect(detail).not_to_contain_text("abcdefghijklmnop1234")
    expect(admin.locator(".q-dialog [class*=q-transition]")).to_have_count(0)
    screenshot(admin, "logs-detail-bodies-light-1280")

    open_usage(admin, url, TOTAL + 1)
    admin.get_by_test_id("export-bodies").click()
    expect(admin.get_by_test_id("export-bodies")).to_have_attribute("aria-checked", "true")
    _, text = download(admin, "Records JSON")
    newest = json.loads(text)[-1]
    assert newest["request_body"]["messages"] == [{"role": "user", "content": "my key is [redacted]"}]
    assert newest["response_body"]["choices"][0]["message"]["content"] == "Echo: my key is [redacted]"
    assert "abcdefghijklmnop1234" not in text

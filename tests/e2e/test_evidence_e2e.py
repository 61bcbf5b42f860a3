"""Deciding routes with evidence, in a real browser after real traffic through the emulator: the what-if
panel beside the route editor, the leaderboard's intervals, the failover tax on the Usage page and the
candidates a request skipped in its Logs detail — with screenshots of each."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import RunningApp
from tests.e2e.conftest import ADMIN_ENV, screenshot, set_dark_mode, signed_in_page
from tests.factories import hub_process, wait_for_usage
from tests.upstream_emulator import EmulatorHandle

CONFIG = """
providers:
  - name: flaky
    kind: openai
    base_url: {url}/v1
    keys:
      - label: limited
        secret: rate-limit:60#evidence-e2e-1
  - name: emu
    kind: openai
    base_url: {url}/v1
    keys:
      - label: primary
        secret: ok#evidence-e2e-2
      - label: spare
        secret: ok#evidence-e2e-3
        priority: 2
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
  - name: idle
    routes:
      - provider: emu
        model: gpt-4o-mini
"""
CALLS = 4
VOTES = [("smart", "fast", "a")] * 9 + [("smart", "fast", "b")] * 3 + [("smart", "fast", "tie")] * 2 + [("fast", "idle", "a")] * 2
"""smart and fast get enough votes for an interval; idle (two votes) does not."""


@pytest.fixture(scope="module")
def hub_app(tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorHandle) -> Iterator[RunningApp]:
    """Calls to `smart` (the first fails over from the rate-limited key, the rest skip it while it cools), one to
    `fast`, and votes from a script, some made from a template."""
    with hub_process(tmp_path_factory.mktemp("evidence-e2e"), CONFIG, emulator, env=ADMIN_ENV) as app:
        with app.sdk() as sdk:
            for i in range(CALLS):
                sdk.chat.completions.create(model="smart", messages=[{"role": "user", "content": f"question {i}"}])
            sdk.chat.completions.create(model="fast", messages=[{"role": "user", "content": "a quick one"}])
        wait_for_usage(app, count=CALLS + 1)
        with app.client() as admin:
            for index, (model_a, model_b, winner) in enumerate(VOTES):
                vote = {"model_a": model_a, "model_b": model_b, "winner": winner, "template": "qa" if index % 2 else None}
                assert admin.post("/api/leaderboard/votes", json=vote).status_code == 201
        yield app


def open_whatif(page: Page, url: str) -> None:
    page.goto(url + "/models?model=smart")
    panel = page.get_by_test_id("whatif-smart")
    panel.get_by_role("button", name="Replay these routes").click()
    expect(panel.get_by_test_id("whatif-comparison")).to_be_visible()
    page.wait_for_function("() => (document.querySelector('[data-testid=whatif-chart] .js-plotly-plot')?.data || []).length === 2")


def test_the_what_if_panel_compares_the_routes_in_the_editor(admin_page: Page, hub_app: RunningApp) -> None:
    page = admin_page
    open_whatif(page, hub_app.url)
    panel = page.get_by_test_id("whatif-smart")
    comparison = panel.get_by_test_id("whatif-comparison")
    expect(comparison).to_contain_text("Recorded")
    expect(comparison.locator("tr", has_text="Failovers")).to_contain_text(f"{CALLS}")
    expect(panel.get_by_test_id("whatif-routes")).to_contain_text("flaky/gpt-4o")
    expect(panel).to_contain_text(f"{CALLS} recorded calls replayed")

    for index in (0, 1):  # cheaper routes, not saved
        page.get_by_test_id(f"route-{index}").get_by_label("Upstream model").fill("gpt-4o-mini")
    panel.get_by_role("button", name="Replay these routes").click()
    expect(panel.get_by_test_id("whatif-routes")).to_contain_text("flaky/gpt-4o-mini")
    expect(panel.get_by_test_id("whatif-delta")).to_contain_text("−$")

    page.get_by_test_id("route-1").get_by_label("Upstream model").fill("")  # a proposal the replay refuses: said in words
    panel.get_by_role("button", name="Replay these routes").click()
    expect(panel.get_by_test_id("whatif-message")).to_contain_text("routes.1.model")

    page.goto(hub_app.url + "/models?model=idle")
    idle = page.get_by_test_id("whatif-idle")
    idle.get_by_role("button", name="Replay these routes").click()
    expect(idle.get_by_test_id("whatif-message")).to_contain_text("No calls to idle were recorded")


def test_the_leaderboard_shows_intervals_and_too_few_votes(admin_page: Page, hub_app: RunningApp) -> None:
    page = admin_page
    page.goto(hub_app.url + "/leaderboard")
    board = page.get_by_test_id("leaderboard")
    rows = board.locator("tbody tr")
    expect(rows).to_have_count(3)
    smart = rows.filter(has_text="smart")
    expect(smart.get_by_test_id("interval")).to_have_text(re.compile(r"^\(\d+–\d+\)$"))
    expect(smart).to_contain_text("9 · 3 · 2")
    expect(rows.filter(has_text="idle").get_by_test_id("too-few-votes")).to_be_visible()
    expect(page.get_by_test_id("position-bias")).to_contain_text("The left column won 11 of 14 decisive votes")
    expect(board.get_by_test_id("best-value")).to_have_count(1)

    page.get_by_test_id("template-select").click()
    page.get_by_role("option", name="Template: qa").click()
    expect(rows.filter(has_text="smart")).to_contain_text("4 · 2 · 1")  # the template's votes alone: every second one
    expect(page.get_by_test_id("position-bias")).to_contain_text("decisive votes")


def first_call(app: RunningApp) -> str:
    """The request id of the first call to `smart` (the one that failed over)."""
    return str(wait_for_usage(app, count=CALLS, model="smart")[-1]["request_id"])


def test_the_logs_detail_shows_why_this_route(admin_page: Page, hub_app: RunningApp) -> None:
    page = admin_page
    page.goto(f"{hub_app.url}/logs?request_id={first_call(hub_app)}")
    candidates = page.get_by_test_id("request-detail").get_by_test_id("route-candidates")
    rows = candidates.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("flaky/gpt-4o")
    expect(rows.nth(0)).to_contain_text("rate limited (429)")
    expect(rows.nth(1)).to_contain_text("served")
    expect(rows.nth(2)).to_contain_text("spare")
    expect(rows.nth(2)).to_contain_text("not reached")
    expect(rows.nth(2)).to_contain_text("a later key of the same route")
    expect(rows.nth(2)).to_contain_text("$0.0000")  # gpt-4o's price for this call's tokens


def test_the_usage_page_shows_the_failover_tax(admin_page: Page, hub_app: RunningApp) -> None:
    page = admin_page
    page.goto(hub_app.url + "/usage")
    tax = page.get_by_test_id("failover-tax")
    expect(tax.get_by_test_id("tax-affected").get_by_test_id("kpi-value")).to_have_text(f"{CALLS}")
    expect(tax.get_by_test_id("tax-affected")).to_contain_text(f"of {CALLS + 1} requests")
    expect(tax.get_by_test_id("tax-extra").get_by_test_id("kpi-value")).to_have_text("1")
    limited = tax.get_by_test_id("failover-keys").locator("tbody tr", has_text="flaky · limited")
    expect(limited).to_contain_text("rate limited ×1")
    expect(limited).to_contain_text(f"cooling ×{CALLS - 1}")
    expect(tax.get_by_test_id("key-pools").get_by_test_id("pool-hint")).to_contain_text("add a key or shift weight")


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_screenshots(browser: Browser, hub_app: RunningApp, dark: bool) -> None:
    mode = "dark" if dark else "light"
    for width, height in ((1280, 900), (390, 844)):
        page = signed_in_page(browser, hub_app.url, width=width, height=height)
        set_dark_mode(page, dark)
        open_whatif(page, hub_app.url)
        page.get_by_test_id("whatif-smart").scroll_into_view_if_needed()
        screenshot(page, f"evidence-whatif-{width}-{mode}", full_page=False)
        page.goto(hub_app.url + "/leaderboard")
        expect(page.get_by_test_id("leaderboard").get_by_test_id("interval")).to_have_count(2)
        screenshot(page, f"evidence-leaderboard-{width}-{mode}")
        page.goto(hub_app.url + "/usage")
        expect(page.get_by_test_id("key-pools").get_by_test_id("pool-hint")).to_be_visible()
        screenshot(page, f"evidence-usage-{width}-{mode}")
        page.goto(f"{hub_app.url}/logs?request_id={first_call(hub_app)}")
        expect(page.get_by_test_id("route-candidates").locator("tbody tr")).to_have_count(3)
        page.get_by_test_id("route-candidates").scroll_into_view_if_needed()
        screenshot(page, f"evidence-logs-{width}-{mode}", full_page=False)
        page.context.close()

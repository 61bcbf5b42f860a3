"""Deciding routes with evidence, in a real browser after real traffic through the emulator: the what-if
panel beside the route editor, the leaderboard's intervals, the failover tax on the Usage page and the
candidates a request skipped in its Logs detail — with screenshots of each."""

from __future__ import annotations

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

    page.goto(hub_app.url + "/models?model=idle")
    idle = page.get_by_test_id("whatif-idle")
    idle.get_by_role("button", name="Replay these routes").click()
    expect(idle.get_by_test_id("whatif-message")).to_contain_text("No calls to idle were recorded")


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_screenshots(browser: Browser, hub_app: RunningApp, dark: bool) -> None:
    mode = "dark" if dark else "light"
    for width, height in ((1280, 900), (390, 844)):
        page = signed_in_page(browser, hub_app.url, width=width, height=height)
        set_dark_mode(page, dark)
        open_whatif(page, hub_app.url)
        page.get_by_test_id("whatif-smart").scroll_into_view_if_needed()
        screenshot(page, f"evidence-whatif-{width}-{mode}", full_page=False)
        page.context.close()

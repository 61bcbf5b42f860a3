"""The response cache in a real browser: a model's cache settings in its panel, saved and then used by a
client's calls, and the Usage page's hit rate and saved cost."""

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
  - {{name: emu, kind: openai, base_url: "{url}/v1", keys: [{{label: main, secret: "ok#cache-e2e"}}]}}
models:
  - {{name: cachy, routes: [{{provider: emu, model: gpt-4o-mini, price: {{input: "3", output: "15"}}}}]}}
"""


@pytest.fixture(scope="module")
def hub_app(tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorHandle) -> Iterator[RunningApp]:
    with hub_process(tmp_path_factory.mktemp("cache-e2e"), CONFIG, emulator, env=ADMIN_ENV) as app:
        yield app


def test_cache_settings_are_saved_from_the_panel_and_the_usage_page_shows_hits(admin_page: Page, hub_app: RunningApp) -> None:
    page = admin_page
    page.goto(hub_app.url + "/models?model=cachy")
    panel = page.get_by_test_id("model-cachy")
    settings = panel.get_by_test_id("cache-settings")
    expect(settings.get_by_test_id("cache-scope")).to_be_hidden()
    settings.get_by_test_id("cache-enabled").click()
    settings.get_by_test_id("cache-scope").click()
    page.get_by_role("option", name="Shared by a person's tokens").click()
    panel.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Model cachy saved")).to_be_visible()
    with hub_app.client() as admin:
        cache = admin.get("/api/models/cachy").json()["cache"]
        assert cache["enabled"] and cache["scope"] == "person" and not cache["semantic"]
        body = {"model": "cachy", "messages": [{"role": "user", "content": "what is cached?"}]}
        answers = [admin.post("/v1/chat/completions", json=body).headers["x-llmhub-cache"] for _ in range(4)]
    assert answers == ["miss", "hit", "hit", "hit"]
    wait_for_usage(hub_app, count=4, model="cachy")
    page.goto(hub_app.url + "/usage")
    kpi = page.get_by_test_id("kpi-cache")
    expect(kpi.get_by_test_id("kpi-value")).to_have_text("75.0%")
    expect(kpi).to_contain_text(re.compile(r"\$[0-9.]+ saved · 3 hits"))


@pytest.mark.parametrize(("width", "dark"), [(1280, False), (1280, True), (390, False), (390, True)])
def test_pictures_of_the_cache_settings_and_the_hit_rate(browser: Browser, hub_app: RunningApp, width: int, dark: bool) -> None:
    page = signed_in_page(browser, hub_app.url, width=width, height=900)
    try:
        set_dark_mode(page, dark)
        mode = "dark" if dark else "light"
        page.goto(hub_app.url + "/models?model=cachy")
        settings = page.get_by_test_id("model-cachy").get_by_test_id("cache-settings")
        settings.scroll_into_view_if_needed()
        expect(settings.get_by_test_id("cache-purge")).to_be_visible()
        screenshot(page, f"cache-settings-{width}-{mode}", full_page=False)
        page.goto(hub_app.url + "/usage")
        expect(page.get_by_test_id("kpi-cache").get_by_test_id("kpi-value")).not_to_have_text("…")
        screenshot(page, f"cache-usage-{width}-{mode}")
    finally:
        page.context.close()

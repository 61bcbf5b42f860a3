"""The Keys page shows per-deployment status: a key that got a 429 for one model stays active, and the
model it was for is listed under it as cooling until the time the provider asked for."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import MASTER_KEY, RunningApp
from tests.e2e.conftest import ADMIN_ENV, screenshot, signed_in_page
from tests.factories import hub_process
from tests.upstream_emulator import EmulatorHandle

CONFIG = """
providers:
  - name: emu
    kind: openai
    base_url: "{url}/v1"
    keys:
      - {{label: busy, secret: "rate-limit:600#deployments-e2e"}}
models:
  - name: smart
    routes:
      - {{provider: emu, model: gpt-4o}}
"""


@pytest.fixture(scope="module")
def cooled(tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorHandle) -> Iterator[RunningApp]:
    """A hub whose only key was just rate-limited for gpt-4o (for ten minutes)."""
    with hub_process(tmp_path_factory.mktemp("deployments"), CONFIG, emulator, env=ADMIN_ENV) as app:
        answer = httpx.post(app.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=30,
                            json={"model": "smart", "messages": [{"role": "user", "content": "hi"}]})
        assert answer.status_code == 429 and answer.json()["error"]["code"] == "all_keys_cooling"
        yield app


def test_health_lists_the_cooling_deployment(cooled: RunningApp) -> None:
    emu = httpx.get(cooled.url + "/health").json()["provider_status"]["emu"]
    assert emu["keys"]["active"] == 1 and emu["status"] == "degraded"
    assert [(d["key"], d["model"], d["status"]) for d in emu["deployments"]] == [("busy", "gpt-4o", "cooling")]


def test_the_keys_page_shows_the_model_cooling_under_an_active_key(browser: Browser, cooled: RunningApp) -> None:
    page = signed_in_page(browser, cooled.url)
    try:
        for dark in (False, True):
            if dark:
                page.get_by_role("button", name="Toggle dark mode").click()
                expect(page.locator("body.body--dark")).to_have_count(1)
            for width in (1280, 390):
                page.set_viewport_size({"width": width, "height": 900})
                page.goto(cooled.url + "/keys")
                expect(page.get_by_test_id("status-busy")).to_have_text("active")
                deployment = page.get_by_test_id("deployment-busy-gpt-4o")
                expect(deployment).to_contain_text("gpt-4o cooling until")
                expect(deployment).to_have_attribute("title", "rate_limited: Rate limit reached for requests. Please try again later.")
                screenshot(page, f"keys-deployment-{'dark' if dark else 'light'}-{width}")
        page.get_by_role("button", name="Toggle dark mode").click()
    finally:
        page.context.close()

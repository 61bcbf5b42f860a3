"""The Models page's import of a LiteLLM config.yaml in a real browser: the preview carries the migration
report (each entry and setting, and what became of it), applying writes what it says, and no secret of
the file reaches the page. Screenshots at 1280 and 390 px, light and dark."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.conftest import RunningApp
from tests.e2e.conftest import ADMIN_ENV, screenshot, signed_in_page
from tests.factories import hub_process
from tests.upstream_emulator import EmulatorHandle

KEY = "ok#litellm-e2e-4d5e6f70"
MASTER = "sk-litellm-e2e-master-8a9b0c1d"
LITELLM = """model_list:
  - model_name: fast
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {url}/v1
      api_key: {key}
      rpm: 60
  - model_name: smart
    litellm_params:
      model: openai/gpt-4o
      api_base: {url}/v1
      api_key: {key}
      temperature: 0.2
  - model_name: spare
    litellm_params:
      model: openai/gpt-4o
      api_base: {url}/v1
      api_key: os.environ/LLMHUB_E2E_NEVER_SET
  - model_name: vertex-gemini
    litellm_params:
      model: vertex_ai/gemini-2.5-pro
      vertex_project: acme-ai
router_settings:
  fallbacks: [{{"smart": ["fast"]}}]
  model_group_alias: {{"gpt-4": "smart"}}
  routing_strategy: least-busy
litellm_settings:
  success_callback: ["langfuse"]
general_settings:
  master_key: {master}
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with hub_process(tmp_path_factory.mktemp("litellm-e2e"), env=ADMIN_ENV) as running:
        yield running


def preview(page: Page, url: str, text: str) -> Locator:
    page.goto(url + "/models")
    page.get_by_role("button", name="Import…").click()
    dialog = page.get_by_test_id("import-dialog")
    dialog.get_by_label("YAML").fill(text)
    dialog.get_by_role("button", name="Preview").click()
    expect(dialog.get_by_test_id("migration-summary")).to_contain_text(
        "LiteLLM model_list: 4 entries (2 imported, 1 imported with changes, 1 skipped)"
    )
    return dialog


def report_screenshot(page: Page, name: str) -> None:
    """The dialog scrolls inside itself: bring the migration report into view first."""
    page.get_by_test_id("migration-summary").evaluate("element => element.scrollIntoView({block: 'start'})")
    screenshot(page, name)


def test_the_preview_shows_the_migration_report_and_apply_writes_it(browser: Browser, app: RunningApp,
                                                                   emulator: EmulatorHandle) -> None:
    text = LITELLM.format(url=emulator.url, key=KEY, master=MASTER)
    page = signed_in_page(browser, app.url)
    dialog = preview(page, app.url, text)
    entries = dialog.get_by_test_id("migration-entries")
    expect(entries.locator(".q-badge").nth(3)).to_have_text("skipped")
    expect(entries).to_contain_text('model_list[3] "vertex-gemini"')
    expect(entries).to_contain_text("a vertex_ai/ entry needs vertex_credentials")
    expect(entries.locator(".q-badge").nth(2)).to_have_text("imported with changes")
    expect(entries).to_contain_text("LLMHUB_E2E_NEVER_SET is not set")
    settings = dialog.get_by_test_id("migration-settings")
    expect(settings).to_contain_text("router_settings.routing_strategy")
    expect(settings.locator(".q-badge", has_text="not supported")).to_have_count(2)
    expect(settings).to_contain_text("fast appended to smart as fallback routes")
    expect(settings).to_contain_text('a master key "litellm" for /v1 and /api, stored hashed')
    expect(dialog.get_by_test_id("import-preview")).to_contain_text("litellm")  # the master key item, by its label
    shown = " ".join(dialog.get_by_test_id(part).inner_text() for part in ("import-preview", "migration-entries", "migration-settings"))
    assert KEY not in shown and MASTER not in shown  # the pasted text holds them; the report does not
    report_screenshot(page, "litellm-import-preview-1280-light")
    phone_screenshots(browser, app.url, text)

    page.reload()
    expect(page.locator("body.body--dark")).to_have_count(1)  # the user's setting, switched on the phone
    dialog = preview(page, app.url, text)
    report_screenshot(page, "litellm-import-preview-1280-dark")
    dialog.get_by_role("button", name="Apply").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("model-status-smart")).to_be_visible()
    expect(page.get_by_test_id("model-status-fast")).to_be_visible()
    expect(page.get_by_test_id("model-status-vertex-gemini")).to_have_count(0)
    assert KEY not in page.content() and MASTER not in page.content()
    with app.client(MASTER) as client:  # the file's master key now admits
        smart = client.get("/api/models/smart").json()
    assert smart["aliases"] == ["gpt-4"] and [r["model"] for r in smart["routes"]] == ["gpt-4o", "gpt-4o-mini"]
    page.context.close()


def phone_screenshots(browser: Browser, url: str, text: str) -> None:
    """The report at 390 px, light then dark (dark mode is the user's setting: it stays on)."""
    phone = signed_in_page(browser, url, width=390, height=844)
    dialog = preview(phone, url, text)
    report_screenshot(phone, "litellm-import-preview-390-light")
    dialog.get_by_role("button", name="Cancel").click()
    phone.get_by_role("button", name="Toggle dark mode").click()
    expect(phone.locator("body.body--dark")).to_have_count(1)
    preview(phone, url, text)
    report_screenshot(phone, "litellm-import-preview-390-dark")
    phone.context.close()

"""The provider dialog's options area for the cloud kinds: the kind's own options appear when it is
chosen, a missing requirement is named under its field, and the options are saved with the provider."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

from tests.conftest import RunningApp
from tests.e2e.conftest import screenshot, set_dark_mode, setup_admin


def test_an_azure_provider_is_added_with_its_api_version(page: Page, fresh_app: RunningApp) -> None:
    setup_admin(page, fresh_app.url)
    page.goto(fresh_app.url + "/keys")
    page.get_by_role("button", name="Add provider").click()
    dialog = page.get_by_test_id("provider-dialog")
    expect(dialog.get_by_test_id("option-api_version")).to_be_hidden()
    dialog.get_by_label("Name").fill("azure-east")
    dialog.get_by_label("Kind").click()
    page.get_by_role("option", name="Azure OpenAI", exact=True).click()
    expect(dialog.get_by_test_id("option-token_url")).to_be_visible()
    dialog.get_by_label("API version").fill("2024-06-01")
    dialog.get_by_role("button", name="Add provider").click()
    expect(dialog.get_by_text("an azure provider needs a base_url")).to_be_visible()
    dialog.get_by_label("Base URL (required)").fill("https://contoso.openai.azure.com")
    screenshot(page, "cloud-provider-dialog-1280-light")
    dialog.get_by_role("button", name="Add provider").click()
    expect(dialog).to_be_hidden()
    page.get_by_test_id("key-dialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_test_id("provider-table")).to_contain_text("https://contoso.openai.azure.com")
    with fresh_app.client() as admin:
        assert admin.get("/api/providers/azure-east").json()["options"] == {"api_version": "2024-06-01"}
    page.get_by_role("button", name="Add provider").click()
    dialog.get_by_label("Kind").click()
    page.get_by_role("option", name="AWS Bedrock", exact=True).click()
    expect(dialog.get_by_test_id("option-region")).to_be_visible()
    expect(dialog.get_by_test_id("option-api_version")).to_be_hidden()
    expect(dialog.get_by_text("Leave empty for the default of the region below")).to_be_visible()


def choose_groq(page: Page) -> Locator:
    page.get_by_role("button", name="Add provider").click()
    dialog = page.get_by_test_id("provider-dialog")
    dialog.get_by_label("Service").click()
    page.get_by_role("option", name="Groq", exact=True).click()
    return dialog


def test_a_preset_fills_the_provider_dialog_and_is_saved(page: Page, fresh_app: RunningApp) -> None:
    setup_admin(page, fresh_app.url)
    page.goto(fresh_app.url + "/keys")
    for dark in (True, False):
        set_dark_mode(page, dark)
        dialog = choose_groq(page)
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            screenshot(page, f"provider-preset-dialog-{width}-{'dark' if dark else 'light'}", full_page=False)
        dialog.get_by_role("button", name="Cancel").click()
        expect(dialog).to_be_hidden()
    page.set_viewport_size({"width": 1280, "height": 900})
    dialog = choose_groq(page)
    expect(dialog.get_by_label("Base URL (required)")).to_have_value("https://api.groq.com/openai/v1")
    expect(dialog.get_by_label("Name")).to_have_value("groq")
    expect(dialog.get_by_test_id("preset-note")).to_contain_text("Refuses logprobs")
    dialog.get_by_role("button", name="Add provider").click()
    expect(dialog).to_be_hidden()
    with fresh_app.client() as admin:
        saved = admin.get("/api/providers/groq").json()
    assert (saved["kind"], saved["options"]) == ("openai_compatible", {"preset": "groq"})
    page.get_by_test_id("key-dialog").get_by_role("button", name="Cancel").click()
    page.get_by_role("button", name="Add provider").click()
    dialog.get_by_label("Kind").click()
    page.get_by_role("option", name="Google Vertex AI", exact=True).click()
    expect(dialog.get_by_test_id("option-project")).to_be_visible()
    expect(dialog.get_by_test_id("option-location")).to_be_visible()
    expect(dialog.get_by_text("Leave empty for Google's (oauth2.googleapis.com)")).to_be_visible()

"""Dialogs that create providers and keys, with the catalog's validation errors next to each field.

Each dialog is built when opened and deleted when closed, so a typed secret never stays in the page.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

from nicegui import ui
from nicegui.elements.mixins.validation_element import ValidationElement

from components.dialogs import transient_dialog
from services.errors import CatalogError
from services.gateway.adapters import DEFAULT_BASE_URLS
from services.gateway.adapters.cloud_options import DEFAULT_AZURE_API_VERSION, OPTION_NAMES
from services.gateway.presets import PRESETS, Preset

PROVIDER_KINDS = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "gemini": "Google Gemini",
    "ollama": "Ollama",
    "openai_compatible": "OpenAI-compatible (Groq, OpenRouter, Mistral, vLLM…)",
    "azure": "Azure OpenAI",
    "bedrock": "AWS Bedrock",
    "vertex": "Google Vertex AI",
}
OPTION_FIELDS = {  # a cloud kind's options (cloud_options.OPTION_NAMES): label, hint
    "api_version": ("API version", f"Leave empty for {DEFAULT_AZURE_API_VERSION}"),
    "region": ("Region (required)", "e.g. us-east-1"),
    "project": ("Project (required)", "Your Google Cloud project id"),
    "location": ("Location (required)", "e.g. us-central1, europe-west4 or global"),
    "token_url": ("Token URL", "Entra ID only; leave empty for Microsoft's"),
}
TOKEN_URL_HINTS = {"vertex": "Leave empty for Google's (oauth2.googleapis.com)"}
PRESET_CHOICES = {"": "None: choose the kind below", **{name: preset.label for name, preset in PRESETS.items()}}
BASE_URL_REQUIRED = ("openai_compatible", "azure")
Submit = Callable[[dict[str, Any]], Awaitable[None]]


def show_catalog_error(fields: Mapping[str, ValidationElement[Any]], error: CatalogError) -> None:
    """Put the message under the field it names (``keys[0].secret`` → ``secret``), else notify."""
    name = re.sub(r"\[\d+\]", "", error.field or "").rsplit(".", 1)[-1]
    field = fields.get(name)
    if field is None:
        ui.notify(error.message, type="negative", multi_line=True)
        return
    field.error = error.message.removeprefix(f"{error.field}: ")


def clear_errors(fields: Mapping[str, ValidationElement[Any]]) -> None:
    for field in fields.values():
        field.error = None


def whole(value: float | None) -> int | float | None:
    """A number input's value as sent to the catalog: whole numbers as ``int``, others as they are
    (so ``1.5`` requests get the catalog's own "not a whole number" message)."""
    return int(value) if value is not None and float(value).is_integer() else value


def base_url_hint(kind: str) -> str:
    if kind == "azure":
        return "Required: your resource, e.g. https://contoso.openai.azure.com"
    if kind == "vertex":
        return "Leave empty for the default of the location below"
    if "region" in OPTION_NAMES.get(kind, ()):
        return "Leave empty for the default of the region below"
    default = DEFAULT_BASE_URLS.get(kind)
    return f"Leave empty for the default: {default}" if default else "Required, e.g. https://api.groq.com/openai/v1"


def preset_summary(preset: Preset) -> str:
    key = "Needs an API key." if preset.key_required else "No key needed."
    return " ".join(part for part in (key, preset.note) if part)


def open_provider_dialog(submit: Submit) -> None:
    """Kind, name and base URL; ``submit`` raises CatalogError to keep the dialog open with errors."""
    with transient_dialog() as dialog, ui.card().classes("w-full max-w-lg gap-3").props("data-testid=provider-dialog"):
        ui.label("Add a provider").classes("text-lg font-medium")
        preset = ui.select(PRESET_CHOICES, value="", label="Service").classes("w-full").props("data-testid=provider-preset")
        preset.props.set_optional("hint", "Fills the form for a known OpenAI-compatible service")
        kind = ui.select(PROVIDER_KINDS, value="openai", label="Kind").classes("w-full")
        name = ui.input("Name", placeholder="e.g. openai-main").classes("w-full").props("autofocus")
        base_url = ui.input("Base URL", placeholder=DEFAULT_BASE_URLS["openai"]).classes("w-full")
        base_url.props.set_optional("hint", base_url_hint("openai"))
        options = _option_inputs()
        quirks = ui.label().classes("text-sm opacity-70").props("data-testid=preset-note")
        fields: dict[str, ValidationElement[Any]] = {"preset": preset, "kind": kind, "name": name, "base_url": base_url, **options}

        def on_kind(_: Any) -> None:
            base_url.props.update(hint=base_url_hint(kind.value), placeholder=DEFAULT_BASE_URLS.get(kind.value, "https://…"))
            base_url.label = "Base URL (required)" if kind.value in BASE_URL_REQUIRED else "Base URL"
            for option_name, field in options.items():
                field.set_visibility(option_name in OPTION_NAMES.get(kind.value, ()))
            options["token_url"].props.update(hint=TOKEN_URL_HINTS.get(kind.value, OPTION_FIELDS["token_url"][1]))
            if kind.value != "openai_compatible":
                preset.value = ""

        def on_preset(_: Any) -> None:
            chosen = PRESETS.get(preset.value or "")
            quirks.text = preset_summary(chosen) if chosen is not None else ""
            if chosen is None:
                return
            kind.value = "openai_compatible"
            base_url.value = chosen.base_url
            if not (name.value or "").strip():
                name.value = chosen.name

        kind.on_value_change(on_kind)
        preset.on_value_change(on_preset)

        async def save() -> None:
            clear_errors(fields)
            chosen = {n: text for n, field in options.items() if field.visible and (text := (field.value or "").strip())}
            data = {"kind": kind.value, "name": name.value, "base_url": (base_url.value or "").strip() or None, "options": chosen or None}
            if preset.value:
                data["preset"] = preset.value
            await _submit_and_close(dialog, fields, submit, data)

        _dialog_buttons(dialog, "Add provider", save)
    dialog.open()


def _option_inputs() -> dict[str, ui.input]:
    """One input per cloud option, hidden until a kind that takes it is chosen."""
    inputs = {}
    for option_name, (label, hint) in OPTION_FIELDS.items():
        field = ui.input(label).classes("w-full").props(f"data-testid=option-{option_name}")
        field.props.set_optional("hint", hint)
        field.set_visibility(False)
        inputs[option_name] = field
    return inputs


def open_key_dialog(providers: list[str], submit: Submit, *, provider: str | None = None) -> None:
    """Label, secret and limits of a new key for one of ``providers``."""
    with transient_dialog() as dialog, ui.card().classes("w-full max-w-lg gap-2").props("data-testid=key-dialog"):
        ui.label("Add a key").classes("text-lg font-medium")
        chosen = ui.select(providers, value=provider or (providers[0] if providers else None), label="Provider").classes("w-full")
        label = ui.input("Label", placeholder="e.g. primary").classes("w-full")
        secret = ui.input("Secret", password=True, password_toggle_button=True).classes("w-full").props("autocomplete=off")
        with ui.grid(columns=2).classes("w-full gap-x-4 gap-y-1"):
            priority = ui.number("Priority", value=1, min=1, step=1).props('hint="1 is tried first"')
            weight = ui.number("Weight", value=1, min=1, step=1).props('hint="share within a priority"')
            rpm = ui.number("Requests / minute", min=1, step=1)
            tpm = ui.number("Tokens / minute", min=1, step=1)
            daily_tokens = ui.number("Tokens / day", min=1, step=1)
            monthly_usd = ui.number("USD / month", min=0, step=1, format="%.2f")
        fields: dict[str, ValidationElement[Any]] = {
            "provider": chosen, "label": label, "secret": secret, "priority": priority, "weight": weight,
            "rpm": rpm, "tpm": tpm, "daily_tokens": daily_tokens, "monthly_usd": monthly_usd,
        }

        async def save() -> None:
            clear_errors(fields)
            if not chosen.value:
                chosen.error = "choose a provider"
                return
            data = {
                "provider": chosen.value, "label": label.value, "secret": secret.value,
                "priority": whole(priority.value) or 1, "weight": whole(weight.value) or 1,
                "rpm": whole(rpm.value), "tpm": whole(tpm.value), "daily_tokens": whole(daily_tokens.value),
                "monthly_usd": None if monthly_usd.value is None else str(Decimal(str(monthly_usd.value))),
            }
            await _submit_and_close(dialog, fields, submit, data)

        _dialog_buttons(dialog, "Add key", save)
    dialog.open()


def open_secret_dialog(title: str, submit: Callable[[str], Awaitable[None]]) -> None:
    """Ask for a new secret (key rotation)."""
    with transient_dialog() as dialog, ui.card().classes("w-full max-w-md gap-3"):
        ui.label(title).classes("text-lg font-medium")
        ui.label("The key keeps its id, limits and history; its health starts over.").classes("text-grey-7 text-sm")
        secret = ui.input("New secret", password=True, password_toggle_button=True).classes("w-full").props("autocomplete=off autofocus")

        async def save() -> None:
            secret.error = None
            await _submit_and_close(dialog, {"secret": secret}, submit, secret.value)

        _dialog_buttons(dialog, "Rotate", save)
    dialog.open()


def open_cooldown_dialog(title: str, submit: Callable[[float], Awaitable[None]]) -> None:
    """Ask for a number of seconds to keep a key out of rotation."""
    with transient_dialog() as dialog, ui.card().classes("w-full max-w-md gap-3"):
        ui.label(title).classes("text-lg font-medium")
        seconds = ui.number("Seconds", value=60, min=1, max=30 * 86400, step=1).classes("w-full").props("autofocus")

        async def save() -> None:
            if not seconds.value or seconds.value <= 0:
                seconds.error = "enter a number of seconds above 0"
                return
            await submit(float(seconds.value))
            dialog.close()

        _dialog_buttons(dialog, "Cool down", save)
    dialog.open()


async def _submit_and_close(
    dialog: ui.dialog, fields: Mapping[str, ValidationElement[Any]], submit: Callable[[Any], Awaitable[None]], value: Any
) -> None:
    """Hand ``value`` to ``submit`` and close the dialog, wiping a typed secret first; on a CatalogError
    the dialog stays open with the message under the field it names."""
    try:
        await submit(value)
    except CatalogError as error:
        show_catalog_error(fields, error)
        return
    if "secret" in fields:
        fields["secret"].value = ""
    dialog.close()


def _dialog_buttons(dialog: ui.dialog, action: str, save: Callable[[], Awaitable[None]]) -> None:
    with ui.row().classes("w-full justify-end gap-2 pt-2"):
        ui.button("Cancel", on_click=dialog.close).props("flat no-caps")
        ui.button(action, on_click=save).props("no-caps color=primary")

"""Translate a LiteLLM proxy ``config.yaml`` into our config document, with a migration report.

```yaml
model_list:
  - model_name: smart                    # the name clients ask for → our logical model
    litellm_params:
      model: openai/gpt-4o               # <provider prefix>/<upstream model>
      api_key: os.environ/OPENAI_API_KEY # read from environment_variables, then the environment
      api_base: https://…                # optional; required for unknown prefixes
      rpm: 500                           # this route's limits (rpm, tpm), counted per key
      order: 1                           # route priority; weight: route weight
      temperature: 0.2                   # default request parameters → route params
      organization: org-…                # → an OpenAI-Organization header; extra_headers → headers
      tags: [paid]                       # → route tags
    model_info: {id: …, input_cost_per_token: …, output_cost_per_token: …, max_input_tokens: …}
router_settings: {fallbacks: …, context_window_fallbacks: …, model_group_alias: …, num_retries: …, timeout: …}
general_settings: {master_key: …}
```

Entries are read by ``litellm_deployments`` (providers, keys, routes), the top-level settings by
``litellm_settings`` (fallbacks, aliases, master key, retries, timeouts, and what is not supported).
Nothing is all or nothing: a bad entry is skipped and reported, the rest imported. Finally every
provider and model is checked against the catalog's input rules, so the document always validates;
whatever a rule refuses is skipped with its message.

The result is our ``LLMHUB_CONFIG`` shape, previewed and applied like one of our own files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from services.catalog.inputs import ModelCreate, ProviderCreate, clean_message, field_path
from services.catalog.litellm_deployments import Environment, ImportedCatalog, read_entries
from services.catalog.litellm_report import MigrationReport
from services.catalog.litellm_settings import apply_settings
from services.errors import LiteLLMFormatError


@dataclass(slots=True)
class Translation:
    config: dict[str, Any]  # LLMHUB_CONFIG shape: {"providers": [...], "models": [...], "master_keys": [...]}
    report: MigrationReport


def is_litellm_config(raw: object) -> bool:
    return isinstance(raw, Mapping) and "model_list" in raw


def translate_litellm(raw: Mapping[str, Any]) -> Translation:
    entries = raw.get("model_list")
    if not isinstance(entries, list):
        raise LiteLLMFormatError("`model_list` must be a list of {model_name, litellm_params} entries")
    variables = raw.get("environment_variables")
    env = Environment(variables if isinstance(variables, Mapping) else {})
    imported = read_entries(entries, env, _credentials(raw.get("credential_list")))
    _note_file_settings(raw, imported.report)
    apply_settings(raw, imported, env)
    _refuse_invalid(imported)
    return Translation(imported.config(), imported.report)


def _credentials(value: object) -> dict[str, Mapping[str, Any]]:
    """``credential_list``: named ``credential_values`` an entry takes by ``litellm_credential_name``."""
    items = value if isinstance(value, list) else []
    return {
        str(item["credential_name"]): item["credential_values"]
        for item in items
        if isinstance(item, Mapping) and item.get("credential_name") and isinstance(item.get("credential_values"), Mapping)
    }


def _note_file_settings(raw: Mapping[str, Any], report: MigrationReport) -> None:
    variables = raw.get("environment_variables")
    if variables is not None:
        if isinstance(variables, Mapping):
            note = f"{len(variables)} variable(s) read by os.environ/ references (ahead of the process environment)"
            report.setting("environment_variables", "mapped", note)
        else:
            report.setting("environment_variables", "not supported", "not a mapping; ignored")
    if raw.get("credential_list") is not None:
        report.setting("credential_list", "mapped", "credentials fill in the entries that name them (litellm_credential_name)")


def _refuse_invalid(imported: ImportedCatalog) -> None:
    """Skip what the catalog's input rules refuse (with their message), so the document validates."""
    config = imported.config()
    for provider in config["providers"]:
        problem = _problem(ProviderCreate, provider)
        if problem:
            imported.providers = {k: p for k, p in imported.providers.items() if p.name != provider["name"]}
            for model in imported.models.values():
                if any(r["provider"] == provider["name"] for r in model.routes):
                    imported.report.refuse_model(model.name, f"provider {provider['name']}: {problem}")
                    model.routes.clear()
    for model in config["models"]:
        problem = _problem(ModelCreate, model)
        if problem:
            imported.report.refuse_model(model["name"], problem)
            imported.models[model["name"]].routes.clear()


def _problem(shape: type[ProviderCreate] | type[ModelCreate], item: Mapping[str, Any]) -> str | None:
    try:
        shape.model_validate(item)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = field_path(error["loc"])
        return f"{field}: {clean_message(error['msg'])}" if field else clean_message(error["msg"])
    return None

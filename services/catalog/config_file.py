"""The declarative YAML configuration (``LLMHUB_CONFIG``): providers with their keys, and models.

```yaml
providers:
  - name: openai-main
    kind: openai                # openai | anthropic | gemini | ollama | openai_compatible
    base_url: https://api.openai.com/v1   # optional except for openai_compatible
    enabled: true               # optional
    keys:
      - label: primary
        secret: ${OPENAI_KEY_1}  # ${VAR} anywhere in a string is read from the environment
        priority: 1             # optional, like weight, rpm, tpm, daily_tokens, monthly_usd, enabled
models:
  - name: smart
    description: optional
    routes:                     # tried by priority (1 first); weight splits within a priority
      - {provider: openai-main, model: gpt-4o, priority: 1}
```

Items are matched by name (provider name, key label within its provider, model name). Every item
the file lists is brought to exactly what the file says, so an optional field left out means its
default (no limit, weight 1, enabled), and a listed model gets exactly the file's routes. Items the
file does not list are left alone: removing a line never deletes what someone made in the console.

Applying is all or nothing: the whole file is parsed and validated first, then written in one
transaction through the catalog; any problem raises ``ConfigError`` naming the file, the item and
the problem, and nothing is written. Applying the same file twice changes nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, computed_field, field_validator

from services.accounts.audit import CONFIG_FILE_ACTOR, Actor, record_event
from services.catalog.inputs import (
    Input,
    ModelCreate,
    ProviderCreate,
    clean_message,
    field_path,
)
from services.catalog.litellm_import import is_litellm_config, translate_litellm
from services.catalog.service import Catalog
from services.catalog.writes import Change
from services.errors import CatalogError, ConfigError, LiteLLMFormatError

if TYPE_CHECKING:
    from services.hub import Hub

EXPORT_FILE_NAME = "llmhub-config.yaml"
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigDocument(Input):
    providers: list[ProviderCreate] = Field(default_factory=list)
    models: list[ModelCreate] = Field(default_factory=list)

    @field_validator("providers", "models", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return [] if value is None else value


class Counts(BaseModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, change: Change) -> None:
        setattr(self, change, getattr(self, change) + 1)

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"


class ConfigItem(BaseModel):
    """One item of an applied (or previewed) file and what applying it did (or would do)."""

    kind: Literal["provider", "key", "model"]
    name: str  # a key is named "provider / label"
    change: Change


class ConfigReport(BaseModel):
    source: str
    dry_run: bool = False
    providers: Counts = Field(default_factory=Counts)
    keys: Counts = Field(default_factory=Counts)
    models: Counts = Field(default_factory=Counts)
    items: list[ConfigItem] = Field(default_factory=list)

    def note(self, kind: Literal["provider", "key", "model"], name: str, change: Change) -> None:
        getattr(self, f"{kind}s").add(change)
        self.items.append(ConfigItem(kind=kind, name=name, change=change))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def changes(self) -> int:
        return sum(c.created + c.updated for c in (self.providers, self.keys, self.models))

    def __str__(self) -> str:
        return f"providers {self.providers}; keys {self.keys}; models {self.models}"


def apply_config_file(path: Path | str, *, hub: Hub, actor: Actor = CONFIG_FILE_ACTOR, dry_run: bool = False) -> ConfigReport:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file: {getattr(exc, 'strerror', None) or exc}") from None
    return apply_config_text(text, catalog=hub.catalog, source=str(path), actor=actor, dry_run=dry_run)


def apply_config_text(text: str, *, catalog: Catalog, source: str, actor: Actor, dry_run: bool = False) -> ConfigReport:
    """Validate the whole document, then upsert it in one transaction (rolled back if ``dry_run``)."""
    report = apply_document(parse_config(text, source), catalog=catalog, source=source, dry_run=dry_run)
    if not dry_run:
        _audit_import(catalog, actor, report, "llmhub")
    return report


def _audit_import(catalog: Catalog, actor: Actor, report: ConfigReport, file_format: str) -> None:
    detail = {"format": file_format, "changes": report.changes, "summary": str(report)}
    record_event(catalog.engine, actor, "config.import", report.source, detail)


def apply_document(document: ConfigDocument, *, catalog: Catalog, source: str, dry_run: bool = False) -> ConfigReport:
    report = ConfigReport(source=source, dry_run=dry_run)
    with catalog.batch(dry_run=dry_run) as cs:
        for index, spec in enumerate(document.providers):
            where = f'providers[{index}] "{spec.name}"'
            with _located(source, where):
                provider, change = cs.upsert_provider(spec)
            report.note("provider", spec.name, change)
            for key_index, key in enumerate(spec.keys):
                with _located(source, f'{where} keys[{key_index}] "{key.label}"'):
                    report.note("key", f"{spec.name} / {key.label}", cs.upsert_key(provider, key))
        for index, model in enumerate(document.models):
            with _located(source, f'models[{index}] "{model.name}"'):
                report.note("model", model.name, cs.upsert_model(model))
    return report


@contextmanager
def _located(source: str, where: str) -> Iterator[None]:
    try:
        yield
    except CatalogError as exc:
        field = f"{exc.field}: " if exc.field else ""
        raise ConfigError(f"{source}: {where}: {field}{exc.message}") from None


def parse_config(text: str, source: str) -> ConfigDocument:
    """YAML → environment substitution → validated document, or ConfigError."""
    return parse_config_data(load_yaml(text, source), source)


def load_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}: invalid YAML{place}: {problem}") from None


def parse_config_data(raw: Any, source: str) -> ConfigDocument:
    """An already loaded document (or a translated one) → environment substitution → validation."""
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with `providers` and/or `models`")
    raw = _substitute(raw, raw, (), source)
    try:
        document = ConfigDocument.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ConfigError(f"{source}: {_describe(error['loc'], raw)}{clean_message(error['msg'])}") from None
    _refuse_duplicate_names(document, source)
    return document


def _substitute(node: Any, root: dict[str, Any], loc: tuple[int | str, ...], source: str) -> Any:
    """Replace ``${VAR}`` in every string value from the environment; an unset variable is an error."""
    if isinstance(node, dict):
        return {k: _substitute(v, root, (*loc, k), source) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, root, (*loc, i), source) for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node

    def value_of(match: re.Match[str]) -> str:
        value = os.environ.get(match.group(1))
        if value is None:
            raise ConfigError(f"{source}: {_describe(loc, root)}environment variable {match.group(1)} is not set")
        return value

    return VARIABLE.sub(value_of, node)


def _describe(loc: tuple[int | str, ...] | list[int | str], raw: Any) -> str:
    """``providers[1] "anthropic-main" keys[0] "primary": secret: `` for a location in the raw document.

    The item is the path up to the last list index (each listed item named by its name or label);
    the rest is the field inside it."""
    last_index = max((i for i, step in enumerate(loc) if isinstance(step, int)), default=-1)
    parts: list[str] = []
    node = raw
    for step in loc[: last_index + 1]:
        node = _child(node, step)
        if isinstance(step, int):
            name = node.get("name", node.get("label")) if isinstance(node, dict) else None
            parts[-1] += f"[{step}]" + (f' "{name}"' if isinstance(name, str) else "")
        else:
            parts.append(str(step))
    field = field_path(loc[last_index + 1 :])
    return "".join(f"{text}: " for text in (" ".join(parts), field) if text)


def _child(node: Any, step: int | str) -> Any:
    if isinstance(step, int):
        return node[step] if isinstance(node, list) and step < len(node) else None
    return node.get(step) if isinstance(node, dict) else None


def _refuse_duplicate_names(document: ConfigDocument, source: str) -> None:
    provider_names = [provider.name for provider in document.providers]
    model_names = [model.name for model in document.models]
    for kind, names in (("providers", provider_names), ("models", model_names)):
        first_seen: dict[str, int] = {}
        for index, name in enumerate(names):
            if name in first_seen:
                raise ConfigError(f'{source}: {kind}[{index}] "{name}": name: the same name as {kind}[{first_seen[name]}]')
            first_seen[name] = index


# -- import with a preview (the console) --------------------------------------------------------


@dataclass(slots=True)
class ImportPlan:
    """A parsed file and what applying it would change; ``apply_plan`` writes it."""

    format: Literal["llmhub", "litellm"]
    document: ConfigDocument
    preview: ConfigReport
    notes: list[str]


def plan_import(text: str, *, catalog: Catalog, source: str) -> ImportPlan:
    """Our own config file or a LiteLLM ``config.yaml`` (told apart by its ``model_list``), validated
    and dry-run against the catalog; ConfigError if it cannot be applied."""
    raw = load_yaml(text, source)
    if not is_litellm_config(raw):
        document = parse_config_data(raw, source)
        return ImportPlan("llmhub", document, apply_document(document, catalog=catalog, source=source, dry_run=True), [])
    try:
        translation = translate_litellm(raw)
    except LiteLLMFormatError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    document = parse_config_data(translation.config, f"{source} (translated from LiteLLM)")
    preview = apply_document(document, catalog=catalog, source=source, dry_run=True)
    return ImportPlan("litellm", document, preview, translation.notes)


def apply_plan(plan: ImportPlan, *, catalog: Catalog, actor: Actor) -> ConfigReport:
    report = apply_document(plan.document, catalog=catalog, source=plan.preview.source)
    _audit_import(catalog, actor, report, plan.format)
    return report

"""The declarative YAML configuration (``LLMHUB_CONFIG``): providers with their keys, models and master keys.

```yaml
providers:
  - name: openai-main
    kind: openai                # openai | anthropic | gemini | ollama | openai_compatible | azure | bedrock | vertex
    base_url: https://api.openai.com/v1   # optional except for openai_compatible and azure
    options: {}                 # kind-specific (azure: api_version, token_url; bedrock: region; vertex: project, location, token_url)
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
master_keys:                    # admin bearer tokens for /v1 and /api, stored hashed
  - {label: ci, key: ${LLMHUB_CI_MASTER_KEY}}
```

Items are matched by name (provider name, key label within its provider, model name, master key
label). Every item the file lists is brought to exactly what the file says, so an optional field
left out means its default (no limit, weight 1, enabled), and a listed model gets exactly the file's
routes. Items the file does not list are left alone: removing a line never deletes what someone
made in the console.

One importer reads both formats: a file with a ``model_list`` is a LiteLLM ``config.yaml``,
translated by ``litellm_import`` with a migration report. Our own format is all or nothing: the whole
file is parsed and validated first, then written in one transaction through the catalog; any
problem raises ``ConfigError`` naming the file, the item and the problem, and nothing is written. A
LiteLLM file is not: what its translation or the catalog refuses is skipped and reported, and the
rest is written in one transaction. Applying the same file twice changes nothing.
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
from services.accounts.master_keys import master_key_change, set_master_key
from services.catalog.inputs import Input, ModelCreate, Name, ProviderCreate, Secret, clean_message, field_path
from services.catalog.litellm_import import is_litellm_config, translate_litellm
from services.catalog.litellm_report import MigrationReport
from services.catalog.service import Catalog
from services.catalog.writes import Change
from services.errors import CatalogError, ConfigError, LiteLLMFormatError

if TYPE_CHECKING:
    from services.hub import Hub

EXPORT_FILE_NAME = "llmhub-config.yaml"
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
Format = Literal["llmhub", "litellm"]
ItemKind = Literal["provider", "key", "model", "master_key"]


class MasterKeyIn(Input):
    label: Name
    key: Secret = Field(description="an admin bearer token for /v1 and /api (at least 8 characters), stored hashed")

    @field_validator("key")
    @classmethod
    def _long_enough(cls, key: Any) -> Any:
        if len(key.get_secret_value()) < 8:
            raise ValueError("must be at least 8 characters")
        return key


class ConfigDocument(Input):
    providers: list[ProviderCreate] = Field(default_factory=list)
    models: list[ModelCreate] = Field(default_factory=list)
    master_keys: list[MasterKeyIn] = Field(default_factory=list)

    @field_validator("providers", "models", "master_keys", mode="before")
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

    kind: ItemKind
    name: str  # a key is named "provider / label"; a master key by its label, never its value
    change: Change


class ConfigReport(BaseModel):
    source: str
    format: Format = "llmhub"
    dry_run: bool = False
    providers: Counts = Field(default_factory=Counts)
    keys: Counts = Field(default_factory=Counts)
    models: Counts = Field(default_factory=Counts)
    master_keys: Counts = Field(default_factory=Counts)
    items: list[ConfigItem] = Field(default_factory=list)
    migration: MigrationReport | None = Field(None, description="a LiteLLM file: what became of each entry and setting")

    def note(self, kind: ItemKind, name: str, change: Change) -> None:
        getattr(self, f"{kind}s").add(change)
        self.items.append(ConfigItem(kind=kind, name=name, change=change))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def changes(self) -> int:
        return sum(c.created + c.updated for c in (self.providers, self.keys, self.models, self.master_keys))

    def __str__(self) -> str:
        text = f"providers {self.providers}; keys {self.keys}; models {self.models}"
        return text + (f"; master keys {self.master_keys}" if self.master_keys.created + self.master_keys.updated else "")


@dataclass(slots=True)
class PreparedConfig:
    """A file parsed (and, for LiteLLM, translated) into a validated document, not yet applied."""

    format: Format
    source: str
    document: ConfigDocument
    migration: MigrationReport | None = None


@dataclass(slots=True)
class ImportPlan:
    """A prepared file and what applying it would change; ``apply_plan`` writes it."""

    config: PreparedConfig
    preview: ConfigReport

    @property
    def format(self) -> Format:
        return self.config.format


def apply_config_file(path: Path | str, *, hub: Hub, actor: Actor = CONFIG_FILE_ACTOR, dry_run: bool = False) -> ConfigReport:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file: {getattr(exc, 'strerror', None) or exc}") from None
    return apply_config_text(text, catalog=hub.catalog, source=str(path), actor=actor, dry_run=dry_run)


def apply_config_text(text: str, *, catalog: Catalog, source: str, actor: Actor, dry_run: bool = False) -> ConfigReport:
    """Our own file or a LiteLLM one, applied (or, with ``dry_run``, checked and rolled back)."""
    return _apply(prepare_config(text, source), catalog=catalog, actor=None if dry_run else actor)


def plan_import(text: str, *, catalog: Catalog, source: str) -> ImportPlan:
    """Prepare a file and dry-run it against the catalog: what applying it would change."""
    config = prepare_config(text, source)
    return ImportPlan(config, _apply(config, catalog=catalog, actor=None))


def apply_plan(plan: ImportPlan, *, catalog: Catalog, actor: Actor) -> ConfigReport:
    return _apply(plan.config, catalog=catalog, actor=actor)


def _apply(config: PreparedConfig, *, catalog: Catalog, actor: Actor | None) -> ConfigReport:
    """Write ``config`` as ``actor`` (audited), or only check it when there is none (a dry run)."""
    dry_run = actor is None
    if config.migration is None:
        report = apply_document(config.document, catalog=catalog, source=config.source, dry_run=dry_run)
        master_keys = config.document.master_keys
    else:
        report, master_keys = _apply_leniently(config, catalog, dry_run)
    for master_key in master_keys:
        raw = master_key.key.get_secret_value()
        if actor is None:
            change = master_key_change(catalog.engine, master_key.label, raw)
        else:
            change = set_master_key(catalog.engine, actor, master_key.label, raw)
        report.note("master_key", master_key.label, change)
    if actor is not None:
        detail = {"format": config.format, "changes": report.changes, "summary": str(report)}
        record_event(catalog.engine, actor, "config.import", report.source, detail)
    return report


def apply_document(document: ConfigDocument, *, catalog: Catalog, source: str, dry_run: bool = False) -> ConfigReport:
    """The catalog part of a document in one transaction (rolled back if ``dry_run``); all or nothing."""
    report = ConfigReport(source=source, dry_run=dry_run)
    with catalog.batch(dry_run=dry_run) as cs:
        for index, spec in enumerate(document.providers):
            where = f'providers[{index}] "{spec.name}"'
            with _located(source, where, ("provider", spec.name)):
                provider, change = cs.upsert_provider(spec)
            report.note("provider", spec.name, change)
            for key_index, key in enumerate(spec.keys):
                with _located(source, f'{where} keys[{key_index}] "{key.label}"', ("key", spec.name, key.label)):
                    report.note("key", f"{spec.name} / {key.label}", cs.upsert_key(provider, key))
        for index, model in enumerate(document.models):
            with _located(source, f'models[{index}] "{model.name}"', ("model", model.name)):
                report.note("model", model.name, cs.upsert_model(model))
    return report


class _Refused(ConfigError):
    """The catalog refused one item of a document: ``item`` is (kind, name…), ``field`` and ``reason`` why."""

    def __init__(self, message: str, item: tuple[str, ...], field: str | None, reason: str) -> None:
        super().__init__(message)
        self.item, self.field, self.reason = item, field, reason


@contextmanager
def _located(source: str, where: str, item: tuple[str, ...]) -> Iterator[None]:
    try:
        yield
    except CatalogError as exc:
        field = f"{exc.field}: " if exc.field else ""
        raise _Refused(f"{source}: {where}: {field}{exc.message}", item, exc.field, f"{field}{exc.message}") from None


def _apply_leniently(config: PreparedConfig, catalog: Catalog, dry_run: bool) -> tuple[ConfigReport, list[MasterKeyIn]]:
    """A translated LiteLLM document: what the catalog refuses is left out (and reported), the rest
    written in one transaction. Each refusal rolls the attempt back, so the loop ends with one clean
    transaction; every round leaves at least one item out."""
    assert config.migration is not None
    document, migration = config.document, config.migration.model_copy(deep=True)
    while True:
        try:
            report = apply_document(document, catalog=catalog, source=config.source, dry_run=dry_run)
        except _Refused as refused:
            document = _without(document, refused, migration)
            continue
        report.format, report.migration = "litellm", migration
        return report, document.master_keys


def _without(document: ConfigDocument, refused: _Refused, migration: MigrationReport) -> ConfigDocument:
    """``document`` without the refused item and the models that need it."""
    kind, name = refused.item[0], refused.item[1]
    models = document.models
    if kind == "model":
        model = next(m for m in models if m.name == name)
        if refused.field == "aliases" and model.aliases:
            for entry in migration.entries:
                if entry.model == name:
                    entry.change(f"aliases {', '.join(model.aliases)}: {refused.reason}; left out")
            return document.model_copy(update={"models": [m.model_copy(update={"aliases": []}) if m is model else m for m in models]})
        migration.refuse_model(name, refused.reason)
        return document.model_copy(update={"models": [m for m in models if m is not model]})
    label = refused.item[2] if kind == "key" else None
    needing = [m for m in models if any(r.provider == name and (label is None or label in (r.keys or ())) for r in m.routes)]
    for model in needing:
        migration.refuse_model(model.name, f"{kind} {' / '.join(refused.item[1:])}: {refused.reason}")
    if label is None:
        providers = [p for p in document.providers if p.name != name]
    else:
        providers = [p.model_copy(update={"keys": [k for k in p.keys if k.label != label]}) if p.name == name else p
                     for p in document.providers]
    return document.model_copy(update={"providers": providers, "models": [m for m in models if m not in needing]})


def prepare_config(text: str, source: str) -> PreparedConfig:
    """YAML → our document (environment substituted, validated), or a LiteLLM file translated into one."""
    raw = load_yaml(text, source)
    if not is_litellm_config(raw):
        return PreparedConfig("llmhub", source, parse_config_data(raw, source))
    try:
        translation = translate_litellm(raw)
    except LiteLLMFormatError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    document = validate_document(translation.config, f"{source} (translated from LiteLLM)")
    return PreparedConfig("litellm", source, document, translation.report)


def parse_config(text: str, source: str) -> ConfigDocument:
    """Our own format: YAML → environment substitution → validated document, or ConfigError."""
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
    """An already loaded document of our format → environment substitution → validation."""
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with `providers`, `models` and/or `master_keys`")
    return validate_document(_substitute(raw, raw, (), source), source)


def validate_document(raw: dict[str, Any], source: str) -> ConfigDocument:
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
    labels = [master_key.label for master_key in document.master_keys]
    for kind, names in (("providers", provider_names), ("models", model_names), ("master_keys", labels)):
        first_seen: dict[str, int] = {}
        for index, name in enumerate(names):
            if name in first_seen:
                raise ConfigError(f'{source}: {kind}[{index}] "{name}": name: the same name as {kind}[{first_seen[name]}]')
            first_seen[name] = index

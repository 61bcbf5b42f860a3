"""LiteLLM ``model_list`` entries (deployments) → providers, keys and the routes of logical models.

Each entry is read on its own, so a bad one is skipped with a note and the rest imported. An entry
becomes a route of the logical model ``model_name`` on a provider found by (kind, base URL), bound
to the key of its own ``api_key`` (``keys: [label]``): two entries with the same provider and model
but different keys or tags stay two routes, and an entry's ``rpm``/``tpm`` are that route's own
limits, counted per key as LiteLLM counts a deployment's. ``os.environ/NAME`` is read from the file's
``environment_variables`` and then the process environment; an unset key variable imports the key
disabled, an unset ``api_base`` skips the entry. An Ollama or self-hosted entry without a key makes a
keyless provider (called without a key). Secrets never reach a note.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from pydantic import TypeAdapter, ValidationError

from services.catalog.inputs import DEFAULTABLE_PARAMS, HEADER_NAME, RESERVED_HEADERS, BaseUrl, ModelName, clean_message
from services.catalog.litellm_clouds import (
    CLOUD_OPTIONS,
    CLOUD_PROVIDERS,
    ENV_PREFIX,
    KEY_PARTS,
    OPTION_VARIABLES,
    cloud_key_reference,
    vertex_problem,
)
from services.catalog.litellm_fields import context_window, default_params, limits, number, order_and_weight, price, tags
from services.catalog.litellm_report import EntryReport, MigrationReport
from services.gateway.adapters import DEFAULT_BASE_URLS
from services.gateway.presets import PRESETS

NATIVE_KINDS = {
    "openai": "openai", "anthropic": "anthropic", "gemini": "gemini", "ollama": "ollama", "ollama_chat": "ollama",
    "azure": "azure", "bedrock": "bedrock", "vertex_ai": "vertex", "vertex_ai_beta": "vertex",
}
LITELLM_PRESETS = {"groq": "groq", "openrouter": "openrouter", "mistral": "mistral", "deepseek": "deepseek", "together_ai": "together",
                   "fireworks_ai": "fireworks", "xai": "xai", "cerebras": "cerebras", "hosted_vllm": "vllm", "lm_studio": "lmstudio"}
"""LiteLLM's prefixes of the services the hub has presets for (``services.gateway.presets``): their providers name the preset."""
COMPATIBLE_BASE_URLS = {**{prefix: PRESETS[name].base_url for prefix, name in LITELLM_PRESETS.items() if PRESETS[name].key_required},
                        "perplexity": "https://api.perplexity.ai", "deepinfra": "https://api.deepinfra.com/v1/openai"}
"""OpenAI-compatible services LiteLLM knows by prefix, with their public base URLs."""
NO_ADAPTER = {"watsonx": "IBM watsonx", "cohere": "Cohere", "huggingface": "Hugging Face", "replicate": "Replicate"}
"""Prefixes whose wire format no adapter speaks, even with an api_base."""
BARE_NAME_KINDS = (("gpt-", "openai"), ("o1", "openai"), ("o3", "openai"), ("o4", "openai"), ("chatgpt", "openai"),
                   ("text-embedding", "openai"), ("claude", "anthropic"), ("gemini", "gemini"))
"""Model names LiteLLM routes without a prefix, and the kind it infers for them."""
KEYLESS_SECRET = "none"
KEYLESS_LABEL = "no-key"  # the placeholder key of an entry without a key on a provider other entries give keys
UNSET_SECRET = "unset:"  # the stored secret of a key whose variable is unset (the key is disabled)
ROUTE_PARAMS = frozenset({
    "model", "api_key", "api_base", "custom_llm_provider", "litellm_credential_name", "rpm", "tpm", "order", "weight",
    "tags", "organization", "extra_headers", "headers", "input_cost_per_token", "output_cost_per_token",
    "num_retries", "max_retries", "timeout", "stream_timeout", "api_version", "aws_region_name",
    "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "vertex_project", "vertex_location", "vertex_credentials",
})
"""litellm_params an entry may carry that are translated (besides the default request parameters)."""
INFORMATIONAL_MODEL_INFO = frozenset({
    "id", "mode", "base_model", "description", "version", "max_tokens", "max_output_tokens", "litellm_provider", "db_model",
    "input_cost_per_token", "output_cost_per_token", "max_input_tokens", "rpm", "tpm",
})
"""model_info keys that are translated or only describe the model (``supports_*`` too)."""
_model_names: TypeAdapter[str] = TypeAdapter(ModelName)
_base_urls: TypeAdapter[str] = TypeAdapter(BaseUrl)


class UnsetVariable(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class Environment:
    """``os.environ/NAME`` references, read from the file's ``environment_variables`` (which win, as
    LiteLLM sets them into its environment) and then the process environment."""

    def __init__(self, file_variables: Mapping[str, Any]) -> None:
        self.variables = {**os.environ, **{str(k): str(v) for k, v in file_variables.items() if v is not None}}

    def value(self, raw: object) -> str:
        """The text of a config value, its reference resolved; ``UnsetVariable`` if it names an unset one."""
        text = "" if raw is None else str(raw).strip()
        if not text.startswith(ENV_PREFIX):
            return text
        name = text.removeprefix(ENV_PREFIX)
        if name not in self.variables:
            raise UnsetVariable(name)
        return self.variables[name]


@dataclass(slots=True)
class ImportedProvider:
    name: str
    kind: str
    base_url: str | None
    options: dict[str, str] = field(default_factory=dict)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)  # by api_key reference (or literal) → key item


@dataclass(slots=True)
class ImportedModel:
    name: str
    routes: list[dict[str, Any]] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    settings: dict[str, list[float]] = field(default_factory=dict)  # num_retries, timeout, stream_timeout as its entries give them
    values: dict[str, float | int] = field(default_factory=dict)  # the model's own num_retries, timeout, stream_timeout


@dataclass(slots=True)
class ImportedCatalog:
    """What the entries became, before the top-level settings add fallbacks, aliases and defaults."""

    report: MigrationReport
    providers: dict[tuple[str, str | None, tuple[tuple[str, str], ...]], ImportedProvider] = field(default_factory=dict)
    models: dict[str, ImportedModel] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # model_name in the file → logical model name
    deployments: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # model_info.id → (model, route)
    master_keys: list[dict[str, str]] = field(default_factory=list)

    def model(self, name: str) -> ImportedModel:
        return self.models.setdefault(name, ImportedModel(name))

    def config(self) -> dict[str, Any]:
        """The ``LLMHUB_CONFIG`` document."""
        providers = [
            {"name": p.name, "kind": p.kind, **({"base_url": p.base_url} if p.base_url else {}),
             **({"options": p.options} if p.options else {}), "keys": list(p.keys.values())}
            for p in self.providers.values()
        ]
        models = [{"name": m.name, "routes": m.routes, **({"aliases": m.aliases} if m.aliases else {}), **m.values}
                  for m in self.models.values() if m.routes]
        return {"providers": providers, "models": models, "master_keys": self.master_keys}


def read_entries(entries: list[Any], env: Environment, credentials: Mapping[str, Mapping[str, Any]]) -> ImportedCatalog:
    imported = ImportedCatalog(MigrationReport())
    reader = _EntryReader(imported, env, credentials)
    for index, entry in enumerate(entries):
        reader.add(index, entry)
    reader.bind_keyless()
    return imported


@dataclass(frozen=True, slots=True)
class Target:
    kind: str
    prefix: str
    upstream: str
    base_url: str | None
    options: tuple[tuple[str, str], ...] = ()  # a cloud provider's (sorted pairs: providers are told apart by them)


class _EntryReader:
    def __init__(self, imported: ImportedCatalog, env: Environment, credentials: Mapping[str, Mapping[str, Any]]) -> None:
        self.imported = imported
        self.env = env
        self.credentials = credentials
        self.keyless: list[tuple[ImportedProvider, dict[str, Any], EntryReport]] = []  # entries without a key

    def add(self, index: int, entry: object) -> None:
        name = str(entry.get("model_name") or "").strip() if isinstance(entry, Mapping) else ""
        report = EntryReport(entry=f"model_list[{index}]" + (f' "{name}"' if name else ""))
        self.imported.report.entries.append(report)
        if not isinstance(entry, Mapping) or not isinstance(entry.get("litellm_params"), Mapping):
            report.skip("no litellm_params")
            return
        params = self._with_credential(entry["litellm_params"], report)
        model_info: Mapping[str, Any] = entry["model_info"] if isinstance(entry.get("model_info"), Mapping) else {}
        extra = sorted(set(map(str, entry)) - {"model_name", "litellm_params", "model_info", "rpm", "tpm"})
        if extra:
            report.change(f"{', '.join(extra)}: not supported; ignored")
        logical = self._logical_name(name, report)
        if logical is None:
            return
        if str(params.get("model") or "").strip() == "*" and not params.get("custom_llm_provider"):
            self._any_provider(logical, report)
            return
        target = self._target(params, report)
        if target is None:
            return
        if "*" in target.upstream and not logical.endswith("*"):
            report.skip("a '*' in litellm_params.model needs a wildcard model_name (e.g. openai/*)")
            return
        self._deployment(logical, target, params, entry, model_info, report)

    def _with_credential(self, params: Mapping[str, Any], report: EntryReport) -> dict[str, Any]:
        """``litellm_credential_name`` fills in what the entry leaves out from the file's ``credential_list``."""
        merged = dict(params)
        name = merged.get("litellm_credential_name")
        if name is not None:
            values = self.credentials.get(str(name))
            if values is None:
                report.change(f"litellm_credential_name {name!r}: no such credential in credential_list")
            else:
                merged = {**values, **merged}
        return merged

    def _logical_name(self, name: str, report: EntryReport) -> str | None:
        if not name:
            report.skip("no model_name")
            return None
        logical = name
        if "/" in name and not name.endswith("*"):
            logical = name.replace("/", "-")
            report.change(f'"/" is reserved for provider/model names: imported as "{logical}"')
        try:
            logical = _model_names.validate_python(logical)
        except ValidationError as exc:
            report.skip(f"model_name: {clean_message(exc.errors()[0]['msg'])}")
            return None
        self.imported.names.setdefault(name, logical)
        report.model = logical
        return logical

    def _target(self, params: Mapping[str, Any], report: EntryReport) -> Target | None:
        try:
            base_url = self.env.value(params.get("api_base")) or None
        except UnsetVariable as unset:
            report.skip(f"api_base: environment variable {unset.name} is not set")
            return None
        target = find_target(str(params.get("model") or "").strip(), base_url, str(params.get("custom_llm_provider") or "").strip())
        if isinstance(target, str):
            report.skip(target)
            return None
        if target.base_url is not None:
            try:
                _base_urls.validate_python(target.base_url)
            except ValidationError:
                report.skip(f"api_base {_without_credentials(target.base_url)!r} is not an http:// or https:// URL")
                return None
        return self._with_options(target, params, report)

    def _with_options(self, target: Target, params: Mapping[str, Any], report: EntryReport) -> Target | None:
        """A cloud entry's target with its provider's options; None (skipped) when a required one is missing."""
        options: dict[str, str] = dict(target.options)
        for param, name in CLOUD_OPTIONS.get(target.kind, {}).items():
            raw = params.get(param)
            if raw is None and param in OPTION_VARIABLES:
                variable, default = OPTION_VARIABLES[param]
                raw = self.env.variables.get(variable) or default or None
            try:
                value = self.env.value(raw)
            except UnsetVariable as unset:
                report.skip(f"{param}: environment variable {unset.name} is not set")
                return None
            if value:
                options[name] = value
        if target.kind == "bedrock" and "region" not in options:
            report.skip("a bedrock/ entry needs aws_region_name (or AWS_REGION_NAME in the environment)")
            return None
        if target.kind == "vertex" and (problem := vertex_problem(params, options)):
            report.skip(problem)
            return None
        return replace(target, options=tuple(sorted(options.items())))

    def _any_provider(self, logical: str, report: EntryReport) -> None:
        """``model: "*"`` lets LiteLLM pick the provider from the requested name: here a wildcard model
        per provider prefix and per bare name family, for each provider whose default key is set."""
        made: list[str] = []
        for prefix in ("openai", "anthropic", "gemini"):
            variable = f"{prefix.upper()}_API_KEY"
            if variable not in self.env.variables:
                continue
            provider = self._provider(Target(prefix, prefix, "*", None))
            label = str(self._key(provider, ENV_PREFIX + variable, report))
            patterns = [f"{prefix}/*"] + [f"{start}*" for start, kind in BARE_NAME_KINDS if kind == prefix]
            for pattern in patterns:
                upstream = "*" if pattern.endswith("/*") else pattern
                self._add_route(pattern, {"provider": provider.name, "model": upstream, "keys": [label]})
            made += patterns
        if not made:
            report.skip('model "*" serves every provider with a key in OPENAI_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY; none is set')
            return
        report.model = made[0]
        report.change(f"LiteLLM picks the provider from the requested name: imported as wildcard models {', '.join(made)}")

    def _deployment(self, logical: str, target: Target, params: Mapping[str, Any], entry: Mapping[str, Any],
                    model_info: Mapping[str, Any], report: EntryReport) -> None:
        provider = self._provider(target)
        label = self._key(provider, _key_reference(params, target), report)
        route: dict[str, Any] = {"provider": provider.name, "model": target.upstream, **({"keys": [label]} if label else {})}
        route.update(order_and_weight(params, report))
        route.update(limits(params, entry, model_info, report))
        route.update(price(params, model_info, report))
        route.update(default_params(params))
        route.update(self._headers(params, report))
        route.update(tags(params, report))
        route.update(context_window(model_info, report))
        self._settings(logical, params, report)
        unknown = sorted(set(map(str, params)) - ROUTE_PARAMS - DEFAULTABLE_PARAMS)
        if unknown:
            report.change(f"litellm_params {', '.join(unknown)}: not supported; ignored")
        unused = sorted(k for k in map(str, model_info) if k not in INFORMATIONAL_MODEL_INFO and not k.startswith("supports_"))
        if unused:
            report.change(f"model_info {', '.join(unused)}: not supported; ignored")
        added = self._add_route(logical, route)
        if label is None:
            self.keyless.append((provider, added, report))
        if added is not route:
            report.change("the same deployment as an earlier entry (same model, key and tags): merged into its route")
        if model_info.get("id") is not None:
            self.imported.deployments[str(model_info["id"])] = (logical, added)

    def _add_route(self, logical: str, route: dict[str, Any]) -> dict[str, Any]:
        """Add ``route`` to the model, or merge it into the route it duplicates (limits added up: two
        deployments of one model on one key together allow both their rates)."""
        model = self.imported.model(logical)
        same = next((r for r in model.routes if route_identity(r) == route_identity(route)), None)
        if same is None:
            model.routes.append(route)
            return route
        for limit in ("rpm", "tpm"):
            if limit in same and limit in route:
                same[limit] += route[limit]
            else:
                same.pop(limit, None)  # one of them is unlimited: so is the pair
        return same

    def _provider(self, target: Target) -> ImportedProvider:
        providers = self.imported.providers
        identity = (target.kind, target.base_url, target.options)
        found = providers.get(identity)
        if found is None:
            name = unique(_provider_name(target), {p.name for p in providers.values()})
            found = providers[identity] = ImportedProvider(name, target.kind, target.base_url, dict(target.options))
        return found

    def _key(self, provider: ImportedProvider, reference: str, report: EntryReport) -> str | None:
        """The label of the key ``reference`` names on ``provider`` (added the first time); None for no key."""
        if not reference:
            return None
        key = provider.keys.get(reference)
        if key is None:
            key = {"label": unique(_key_label(reference, len(provider.keys) + 1), {k["label"] for k in provider.keys.values()})}
            try:
                key["secret"] = ":".join(self.env.value(part) for part in reference.split(KEY_PARTS))
            except UnsetVariable as unset:
                key.update(secret=UNSET_SECRET + unset.name, enabled=False)
            provider.keys[reference] = key
        if key.get("enabled") is False:
            report.change(f"api_key: environment variable {key['secret'].removeprefix(UNSET_SECRET)} is not set: key "
                          f'"{key["label"]}" imported disabled')
        return str(key["label"])

    def bind_keyless(self) -> None:
        """A provider with no key is called without one. An entry without a key on a provider that other
        entries give keys gets a placeholder key of its own, so it does not borrow theirs."""
        for provider, route, report in self.keyless:
            if route.get("keys") or not any(provider.keys):
                continue
            taken = {k["label"] for k in provider.keys.values()}
            placeholder = provider.keys.setdefault("", {"label": unique(KEYLESS_LABEL, taken), "secret": KEYLESS_SECRET})
            route["keys"] = [placeholder["label"]]
            label = placeholder["label"]
            report.change(f'no api_key, while other entries give {provider.name} keys: called with a placeholder key "{label}"')

    def _headers(self, params: Mapping[str, Any], report: EntryReport) -> dict[str, Any]:
        wanted: dict[str, object] = {}
        organization = params.get("organization")
        if isinstance(organization, list):
            if len(organization) > 1:
                report.change("organization: several organizations; only the first is used")
            organization = organization[0] if organization else None
        if organization is not None:
            wanted["OpenAI-Organization"] = organization
        for name in ("extra_headers", "headers"):
            given = params.get(name)
            if isinstance(given, Mapping):
                wanted.update({str(k): v for k, v in given.items()})
            elif given is not None:
                report.change(f"{name}: not a mapping of header names to values; ignored")
        headers: dict[str, str] = {}
        for header, raw in wanted.items():
            try:
                value = self.env.value(raw)
            except UnsetVariable as unset:
                report.change(f"header {header}: environment variable {unset.name} is not set; left out")
                continue
            if not HEADER_NAME.fullmatch(header) or header.lower() in RESERVED_HEADERS or len(value) > 2000:
                report.change(f"header {header}: not a header a route can add; left out")
                continue
            headers[header] = value
        return {"headers": headers} if headers else {}

    def _settings(self, logical: str, params: Mapping[str, Any], report: EntryReport) -> None:
        """num_retries and timeouts are a logical model's settings here; kept per model, its entries' largest."""
        model = self.imported.model(logical)
        for ours, names in (("num_retries", ("num_retries", "max_retries")), ("timeout", ("timeout",)),
                            ("stream_timeout", ("stream_timeout",))):
            raw = next((params[n] for n in names if params.get(n) is not None), None)
            if raw is None:
                continue
            value = number(raw)
            if value is None or value < 0 or (value == 0 and ours != "num_retries"):
                report.change(f"{ours}: {raw!r} is not a positive number; ignored")
            else:
                model.settings.setdefault(ours, []).append(value)


def find_target(model: str, base_url: str | None, custom_provider: str = "") -> Target | str:
    """Kind, prefix, upstream model and base URL (None: the kind's default) of a LiteLLM model string,
    or why it cannot be imported. The prefix is what precedes the first '/', however odd the rest."""
    if not model:
        return "litellm_params.model is missing"
    if custom_provider:
        prefix, rest = custom_provider, model.removeprefix(custom_provider + "/")
    elif "/" in model:
        prefix, _, rest = model.partition("/")
    else:
        prefix, rest = _bare_kind(model, base_url), model
        if not prefix:
            return f"cannot tell the provider of {model!r} (no prefix and no api_base)"
    if prefix in CLOUD_PROVIDERS:
        return f"{CLOUD_PROVIDERS[prefix]} ({prefix}/) entries are not imported yet: of the clouds, Azure OpenAI, Bedrock and Vertex AI are"
    if prefix in NO_ADAPTER:
        return f"{NO_ADAPTER[prefix]} ({prefix}/) is not supported: no adapter speaks its wire format"
    if not rest.strip():
        return f"no model name after {prefix}/"
    kind = NATIVE_KINDS.get(prefix)
    if kind == "azure" and (not base_url or "/" in rest):
        return "an azure/ entry needs api_base (the resource) and a deployment name without '/'"
    if kind == "bedrock":
        rest = rest.removeprefix("converse/")  # LiteLLM's route switch: Converse is the only API here
    if kind is not None:
        if base_url and base_url.rstrip("/") == DEFAULT_BASE_URLS.get(kind):
            base_url = None
        if kind == "openai" and base_url:
            kind = "openai_compatible"  # LiteLLM's spelling for "any OpenAI-compatible server"
        return Target(kind, prefix, rest, base_url)
    base_url = base_url or COMPATIBLE_BASE_URLS.get(prefix)
    if base_url is None:
        return f"unknown provider prefix {prefix!r} and no api_base"
    preset = (("preset", LITELLM_PRESETS[prefix]),) if prefix in LITELLM_PRESETS else ()
    return Target("openai_compatible", prefix, rest, base_url, preset)


def route_identity(route: Mapping[str, Any]) -> tuple[object, ...]:
    """What ``RouteIn.identity`` compares: two routes of one model may not share it."""
    return (route["provider"], route["model"], tuple(route.get("keys") or ()), tuple(sorted(route.get("tags") or ())),
            bool(route.get("context_fallback")))


def _without_credentials(url: str) -> str:
    """A URL as a note may show it: a ``user:password@`` part is masked."""
    scheme, at, rest = url.rpartition("@")
    return f"{scheme.split('//')[0]}//…@{rest}" if at and "//" in scheme else ("…@" + rest if at else url)


def _bare_kind(model: str, base_url: str | None) -> str:
    for start, kind in BARE_NAME_KINDS:
        if model.startswith(start):
            return kind
    return "openai" if base_url else ""


def _key_reference(params: Mapping[str, Any], target: Target) -> str:
    """The key's identity: ``os.environ/NAME``, the literal key, LiteLLM's default variable, or '' (none);
    for a Bedrock or Vertex entry without an ``api_key``, its cloud credentials' (``litellm_clouds``)."""
    api_key = params.get("api_key")
    text = "" if api_key is None else str(api_key).strip()
    if text:
        return text
    if target.kind in ("bedrock", "vertex"):
        return cloud_key_reference(target.kind, params)
    if target.kind == "ollama" or (target.kind == "openai_compatible" and target.prefix not in COMPATIBLE_BASE_URLS):
        return ""
    return ENV_PREFIX + f"{target.prefix}_API_KEY".upper()  # what LiteLLM reads when api_key is left out


def _key_label(reference: str, ordinal: int) -> str:
    first = reference.split(KEY_PARTS, 1)[0]
    if first.startswith(ENV_PREFIX):
        return first.removeprefix(ENV_PREFIX).lower().replace("_", "-")
    return f"key-{ordinal}"


def _provider_name(target: Target) -> str:
    """``openai``, ``groq``, ``hosted-vllm``…; an ``openai/`` entry with its own server is named after its host."""
    if target.kind != "openai_compatible":
        return target.kind
    if target.prefix != "openai" or target.base_url is None:
        return target.prefix.replace("_", "-")
    host = (urlsplit(target.base_url).hostname or target.base_url).lower().removeprefix("api.").removeprefix("www.")
    return re.sub(r"[^a-z0-9]+", "-", host).strip("-") or target.prefix


def unique(name: str, taken: set[str]) -> str:
    candidate, ordinal = name, 2
    while candidate in taken:
        candidate, ordinal = f"{name}-{ordinal}", ordinal + 1
    return candidate

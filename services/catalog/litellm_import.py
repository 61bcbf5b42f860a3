"""Translate a LiteLLM proxy ``config.yaml`` ``model_list`` into our config document.

```yaml
model_list:
  - model_name: smart                    # the name clients ask for → our logical model
    litellm_params:
      model: openai/gpt-4o               # <provider prefix>/<upstream model>
      api_key: os.environ/OPENAI_API_KEY # read from the environment when applied
      api_base: https://…                # optional; required for unknown prefixes
      rpm: 500                           # optional key limits (rpm, tpm)
      order: 1                           # optional: our route priority
      weight: 2                          # optional: our route weight
```

Entries are deployments. Each becomes a route of the logical model ``model_name`` (several entries
with one name are several routes), on a provider found by (kind, base URL), with a key found by
its ``api_key``. ``openai/``, ``anthropic/``, ``gemini/`` and ``ollama/`` map to those kinds; a few
well-known OpenAI-compatible services get their base URL; any other prefix with an ``api_base``,
and ``openai/`` with a non-OpenAI ``api_base``, becomes ``openai_compatible``. Entries that cannot
be served by our adapters (Azure, Bedrock, Vertex AI, …) or that use wildcards are skipped with a
note. ``os.environ/NAME`` becomes ``${NAME}``, which the config loader resolves (or names as an
unset variable); a key used by several entries gets the smallest rpm/tpm they give.

The result is a plain mapping in the ``LLMHUB_CONFIG`` shape, so it is validated, previewed and
applied exactly like one of our own files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from services.errors import LiteLLMFormatError
from services.gateway.adapters import DEFAULT_BASE_URLS

ENV_PREFIX = "os.environ/"
NATIVE_KINDS = {"openai": "openai", "anthropic": "anthropic", "gemini": "gemini", "ollama": "ollama", "ollama_chat": "ollama"}
#: OpenAI-compatible services LiteLLM knows by prefix, with their public base URLs.
COMPATIBLE_BASE_URLS = {
    "groq": "https://api.groq.com/openai/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "mistral": "https://api.mistral.ai/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "together_ai": "https://api.together.xyz/v1",
    "fireworks_ai": "https://api.fireworks.ai/inference/v1",
    "perplexity": "https://api.perplexity.ai",
    "xai": "https://api.x.ai/v1",
    "deepinfra": "https://api.deepinfra.com/v1/openai",
    "cerebras": "https://api.cerebras.ai/v1",
}
#: Prefixes whose wire format our adapters do not speak, even with an api_base.
UNSUPPORTED = {
    "azure": "Azure OpenAI", "azure_ai": "Azure AI", "bedrock": "AWS Bedrock", "sagemaker": "AWS SageMaker",
    "vertex_ai": "Google Vertex AI", "watsonx": "IBM watsonx", "cohere": "Cohere", "huggingface": "Hugging Face",
}
#: Bare model names LiteLLM routes without a prefix.
BARE_NAME_KINDS = (("gpt-", "openai"), ("o1", "openai"), ("o3", "openai"), ("o4", "openai"), ("chatgpt", "openai"),
                   ("text-embedding", "openai"), ("claude", "anthropic"), ("gemini", "gemini"))
KEYLESS_SECRET = "none"  # Ollama and self-hosted servers take no key; the router still needs one per provider


@dataclass(slots=True)
class _Provider:
    name: str
    kind: str
    base_url: str | None
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)  # by api_key reference or value


@dataclass(slots=True)
class Translation:
    config: dict[str, Any]  # LLMHUB_CONFIG shape: {"providers": [...], "models": [...]}
    notes: list[str]


def is_litellm_config(raw: object) -> bool:
    return isinstance(raw, Mapping) and "model_list" in raw


def translate_litellm(raw: Mapping[str, Any]) -> Translation:
    entries = raw.get("model_list")
    if not isinstance(entries, list):
        raise LiteLLMFormatError("`model_list` must be a list of {model_name, litellm_params} entries")
    translator = _Translator()
    for index, entry in enumerate(entries):
        translator.add(index, entry)
    return translator.result()


class _Translator:
    def __init__(self) -> None:
        self.providers: dict[tuple[str, str | None], _Provider] = {}
        self.models: dict[str, list[dict[str, Any]]] = {}
        self.notes: list[str] = []

    def add(self, index: int, entry: object) -> None:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("litellm_params"), Mapping):
            self.notes.append(f"model_list[{index}]: no litellm_params; skipped")
            return
        params: Mapping[str, Any] = entry["litellm_params"]
        name = str(entry.get("model_name") or "").strip()
        where = f'model_list[{index}] "{name}"'
        if not name or "*" in name:
            self.notes.append(f"{where}: wildcard or empty model_name; skipped")
            return
        if "/" in name:
            name = name.replace("/", "-")
            self.notes.append(f'{where}: "/" is reserved for provider/model names; imported as "{name}"')
        target = _target(params)
        if isinstance(target, str):
            self.notes.append(f"{where}: {target}; skipped")
            return
        kind, prefix, upstream_model, base_url = target
        provider = self._provider(kind, prefix, base_url)
        self._key(provider, kind, prefix, params)
        self._route(name, provider.name, upstream_model, params, where)

    def _provider(self, kind: str, prefix: str, base_url: str | None) -> _Provider:
        found = self.providers.get((kind, base_url))
        if found is None:
            name = _unique(_provider_name(prefix, kind, base_url), {p.name for p in self.providers.values()})
            found = self.providers[(kind, base_url)] = _Provider(name, kind, base_url)
        return found

    def _key(self, provider: _Provider, kind: str, prefix: str, params: Mapping[str, Any]) -> None:
        reference = _secret_reference(params.get("api_key"), kind, prefix)
        key = provider.keys.get(reference)
        if key is None:
            label = _unique(_key_label(reference, len(provider.keys) + 1), {k["label"] for k in provider.keys.values()})
            key = provider.keys[reference] = {"label": label, "secret": _secret_value(reference)}
            if not reference:
                self.notes.append(f'{provider.name}: no api_key; a placeholder key "{label}" was added (the router needs one)')
        for limit in ("rpm", "tpm"):
            value = _positive_int(params.get(limit))
            if value is not None:
                key[limit] = min(value, key.get(limit, value))

    def _route(self, model: str, provider: str, upstream_model: str, params: Mapping[str, Any], where: str) -> None:
        routes = self.models.setdefault(model, [])
        if any(r["provider"] == provider and r["model"] == upstream_model for r in routes):
            return  # another deployment of the same route: its key was added to the provider
        route: dict[str, Any] = {"provider": provider, "model": upstream_model}
        for ours, theirs in (("priority", "order"), ("weight", "weight")):
            if params.get(theirs) is None:
                continue
            value = _positive_int(params[theirs])
            if value is None:
                self.notes.append(f"{where}: {theirs} {params[theirs]!r} is not a whole number ≥ 1; {ours} 1 used")
            else:
                route[ours] = value
        routes.append(route)

    def result(self) -> Translation:
        providers = [
            {"name": p.name, "kind": p.kind, **({"base_url": p.base_url} if p.base_url else {}), "keys": list(p.keys.values())}
            for p in self.providers.values()
        ]
        models = [{"name": name, "routes": routes} for name, routes in self.models.items()]
        return Translation({"providers": providers, "models": models}, self.notes)


def _target(params: Mapping[str, Any]) -> tuple[str, str, str, str | None] | str:
    """(kind, prefix, upstream model, base URL or None for the default) — or why it cannot be imported."""
    model = str(params.get("model") or "").strip()
    if not model:
        return "litellm_params.model is missing"
    base_url = _env_reference(params.get("api_base")) or None
    prefix, _, rest = model.partition("/")
    if not rest:
        prefix, rest = _bare_kind(model, base_url), model
        if not prefix:
            return f"cannot tell the provider of {model!r} (no prefix and no api_base)"
    if prefix in UNSUPPORTED:
        return f"{UNSUPPORTED[prefix]} ({prefix}/) is not supported"
    if "*" in rest:
        return "wildcard models are not supported"
    kind = NATIVE_KINDS.get(prefix)
    if kind is not None:
        if base_url and base_url.rstrip("/") == DEFAULT_BASE_URLS.get(kind):
            base_url = None
        if kind == "openai" and base_url:
            kind = "openai_compatible"  # LiteLLM's spelling for "any OpenAI-compatible server"
        return kind, prefix, rest, base_url
    base_url = base_url or COMPATIBLE_BASE_URLS.get(prefix)
    if base_url is None:
        return f"unknown provider prefix {prefix!r} and no api_base"
    return "openai_compatible", prefix, rest, base_url


def _bare_kind(model: str, base_url: str | None) -> str:
    for start, kind in BARE_NAME_KINDS:
        if model.startswith(start):
            return kind
    return "openai" if base_url else ""


def _env_reference(value: object) -> str:
    """``os.environ/NAME`` → ``${NAME}`` (resolved later by the config loader); other values as text."""
    text = "" if value is None else str(value).strip()
    return "${" + text.removeprefix(ENV_PREFIX) + "}" if text.startswith(ENV_PREFIX) else text


def _secret_reference(api_key: object, kind: str, prefix: str) -> str:
    """The key's identity: ``os.environ/NAME``, the literal key, or LiteLLM's fallback variable."""
    text = "" if api_key is None else str(api_key).strip()
    if text:
        return text
    if kind == "ollama" or (kind == "openai_compatible" and prefix not in COMPATIBLE_BASE_URLS):
        return ""
    return ENV_PREFIX + f"{prefix}_API_KEY".upper()  # what LiteLLM reads when api_key is left out


def _secret_value(reference: str) -> str:
    return _env_reference(reference) if reference else KEYLESS_SECRET


def _key_label(reference: str, number: int) -> str:
    if not reference:
        return "no-key"
    if reference.startswith(ENV_PREFIX):
        return reference.removeprefix(ENV_PREFIX).lower().replace("_", "-")
    return f"key-{number}"


def _provider_name(prefix: str, kind: str, base_url: str | None) -> str:
    """``openai``, ``groq``, ``hosted-vllm``…; an ``openai/`` entry with its own server is named after its host."""
    if kind != "openai_compatible":
        return kind
    if prefix != "openai" or base_url is None:
        return prefix.replace("_", "-")
    host = (urlsplit(base_url).hostname or base_url.strip("${}")).lower()
    host = host.removeprefix("api.").removeprefix("www.")
    return re.sub(r"[^a-z0-9]+", "-", host).strip("-") or prefix


def _unique(name: str, taken: set[str]) -> str:
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name}-{number}", number + 1
    return candidate


def _positive_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return value if isinstance(value, int) and value >= 1 else None

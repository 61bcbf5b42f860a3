"""The catalog exported in the config file's format (``GET /api/config/export``, the Models page).

Secrets are never exported: each key's secret, and each value of a route's extra headers (they may
carry credentials), is a ``${LLMHUB_…}`` placeholder to set before the file is applied again. Master
keys a config set are stored hashed and cannot be exported at all.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import yaml

from services.accounts.audit import Actor, record_event
from services.cache.policy import CacheSettings
from services.catalog.views import ModelPublic, ProviderPublic, RoutePublic

if TYPE_CHECKING:
    from services.hub import Hub

EXPORT_FILE_NAME = "llmhub-config.yaml"
KEY_DEFAULTS = {"priority": 1, "weight": 1, "enabled": True}
ROUTE_DEFAULTS = {"priority": 1, "weight": 1, "context_fallback": False}
MODEL_DEFAULTS = {"enabled": True, "aliases": [], "drop_params": False, "cache": None}


def variable_name(*parts: str) -> str:
    """``LLMHUB_`` and the parts in upper case, anything else an underscore."""
    return "LLMHUB_" + re.sub(r"[^A-Z0-9]+", "_", "_".join(parts).upper()).strip("_")


def secret_variable(provider: str, label: str) -> str:
    """The environment variable an export names for a key's secret: ``LLMHUB_KEY_<PROVIDER>_<LABEL>``."""
    return variable_name("key", provider, label)


def _number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _without_defaults(item: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if v is not None and defaults.get(k, object()) != v}


def export_config(hub: Hub, actor: Actor) -> str:
    """The whole catalog in the config file's format, audited as read by ``actor``."""
    record_event(hub.engine, actor, "config.export", EXPORT_FILE_NAME)
    used: set[str] = set()
    providers = [_provider_item(provider, used) for provider in hub.catalog.list_providers()]
    models = [_model_item(model) for model in hub.catalog.list_models()]
    header = "# LLM Hub configuration. Secrets are not exported: set each ${LLMHUB_...} variable before applying.\n"
    return header + yaml.safe_dump({"providers": providers, "models": models}, sort_keys=False, allow_unicode=True)


def _provider_item(provider: ProviderPublic, used: set[str]) -> dict[str, Any]:
    keys = []
    for key in provider.keys:
        variable = secret_variable(provider.name, key.label)
        variable = variable if variable not in used else f"{variable}_{key.id}"
        used.add(variable)
        item = {
            "label": key.label, "secret": f"${{{variable}}}", "priority": key.priority, "weight": key.weight,
            "rpm": key.rpm, "tpm": key.tpm, "daily_tokens": key.daily_tokens,
            "monthly_usd": _number(key.monthly_usd), "enabled": key.enabled,
        }
        keys.append(_without_defaults(item, KEY_DEFAULTS))
    item = {
        "name": provider.name, "kind": provider.kind, "base_url": provider.base_url, "options": provider.options,
        "enabled": provider.enabled, "keys": keys,
    }
    return _without_defaults(item, {"enabled": True, "options": {}})


def _model_item(model: ModelPublic) -> dict[str, Any]:
    item = {
        "name": model.name, "description": model.description, "enabled": model.enabled, "aliases": model.aliases,
        "num_retries": model.num_retries, "timeout": model.timeout, "stream_timeout": model.stream_timeout,
        "drop_params": model.drop_params, "cache": _cache_item(model.cache),
        "routes": [_route_item(model.name, index, route) for index, route in enumerate(model.routes)],
    }
    return _without_defaults(item, MODEL_DEFAULTS)


def _cache_item(cache: CacheSettings | None) -> dict[str, Any] | None:
    """A model's cache settings without the fields left at their defaults."""
    return cache.model_dump(exclude_defaults=True) if cache is not None else None


def _route_item(model: str, index: int, route: RoutePublic) -> dict[str, Any]:
    item = route.model_dump()
    item["monthly_usd"] = _number(route.monthly_usd)
    if route.price is not None:
        item["price"] = {name: _number(value) for name, value in route.price.items()}
    if route.headers:
        item["headers"] = {name: "${" + variable_name("header", model, str(index), name) + "}" for name in route.headers}
    return _without_defaults(item, ROUTE_DEFAULTS)

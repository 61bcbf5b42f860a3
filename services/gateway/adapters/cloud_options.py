"""The kind-specific settings of the cloud kinds (a provider's ``options``) and their default endpoints.

``base_url`` stays the host (an override for proxies, sovereign clouds and tests); what a cloud needs
beside it lives in ``options``:

* ``azure``: ``api_version`` (default ``DEFAULT_AZURE_API_VERSION``), ``token_url`` (Entra ID keys
  only; default Microsoft's for the key's tenant). No default host: every resource has its own.
* ``bedrock``: ``region`` (required; the default host is ``bedrock-runtime.{region}.amazonaws.com``).
* ``vertex``: ``project`` and ``location`` (required; the default host is
  ``{location}-aiplatform.googleapis.com``, ``aiplatform.googleapis.com`` for the ``global`` location and
  ``aiplatform.{us|eu}.rep.googleapis.com`` for the multi-regions),
  ``token_url`` (default Google's ``DEFAULT_GOOGLE_TOKEN_URL``).
* ``openai_compatible``: ``preset``, the service it was made from (``services.gateway.presets``).
"""

from __future__ import annotations

from collections.abc import Mapping

from services.gateway.presets import PRESET_OPTION, PRESETS

DEFAULT_AZURE_API_VERSION = "2024-10-21"
DEFAULT_GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
VERTEX_MULTI_REGIONS = frozenset({"us", "eu"})
OPTION_NAMES: dict[str, frozenset[str]] = {
    "azure": frozenset({"api_version", "token_url"}),
    "bedrock": frozenset({"region"}),
    "vertex": frozenset({"project", "location", "token_url"}),
    "openai_compatible": frozenset({PRESET_OPTION}),
}
REQUIRED_OPTIONS: dict[str, tuple[str, ...]] = {"bedrock": ("region",), "vertex": ("project", "location")}


def options_problem(kind: str, options: Mapping[str, str] | None) -> tuple[str, str] | None:
    """(field, reason) when ``options`` do not fit ``kind``, else None."""
    allowed = OPTION_NAMES.get(kind, frozenset())
    given = options or {}
    if unknown := sorted(set(given) - allowed):
        expected = f"it takes {', '.join(sorted(allowed))}" if allowed else "it takes none"
        return f"options.{unknown[0]}", f"a {kind} provider has no option {unknown[0]!r}: {expected}"
    for name in REQUIRED_OPTIONS.get(kind, ()):
        if not given.get(name):
            return f"options.{name}", f"a {kind} provider needs options.{name}"
    if PRESET_OPTION in given and given[PRESET_OPTION] not in PRESETS:
        return f"options.{PRESET_OPTION}", f"unknown preset {given[PRESET_OPTION]!r}: one of {', '.join(PRESETS)}"
    return None


def option(options: Mapping[str, str] | None, name: str, default: str = "") -> str:
    return (options or {}).get(name) or default


def cloud_base_url(kind: str, options: Mapping[str, str] | None) -> str:
    """A cloud kind's endpoint from its options; ``""`` when it has none (Azure: base_url is required)."""
    if kind == "bedrock" and (region := option(options, "region")):
        return f"https://bedrock-runtime.{region}.amazonaws.com"
    if kind == "vertex" and (location := option(options, "location")):
        return vertex_host(location)
    return ""


def vertex_host(location: str) -> str:
    """Google's endpoint for a location: one global host, a ``.rep`` host for the multi-regions, else regional."""
    if location == "global":
        return "https://aiplatform.googleapis.com"
    if location in VERTEX_MULTI_REGIONS:
        return f"https://aiplatform.{location}.rep.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"

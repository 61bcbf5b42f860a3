"""The kind-specific settings of the cloud kinds (a provider's ``options``).

``base_url`` stays the host (an override for proxies, sovereign clouds and tests); what a cloud needs
beside it lives in ``options``:

* ``azure``: ``api_version`` (default ``DEFAULT_AZURE_API_VERSION``), ``token_url`` (Entra ID keys
  only; default Microsoft's for the key's tenant). No default host: every resource has its own.
"""

from __future__ import annotations

from collections.abc import Mapping

DEFAULT_AZURE_API_VERSION = "2024-10-21"
OPTION_NAMES: dict[str, frozenset[str]] = {
    "azure": frozenset({"api_version", "token_url"}),
}
REQUIRED_OPTIONS: dict[str, tuple[str, ...]] = {}


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
    return None


def option(options: Mapping[str, str] | None, name: str, default: str = "") -> str:
    return (options or {}).get(name) or default

"""LiteLLM's top-level settings in LLM Hub's terms, applied to what the ``model_list`` became.

- ``fallbacks`` (``router_settings`` or ``litellm_settings``): the fallback models' routes are appended
  to the model after its own, at lower priorities, in the listed order; ``context_window_fallbacks``
  the same, marked ``context_fallback`` (tried only for a request that did not fit); ``default_fallbacks``
  for every model without fallbacks of its own. A fallback is one step: a fallback model's own
  fallbacks are not followed. A target may be a model name, a ``model_info.id`` or a name a wildcard
  model matches.
- ``model_group_alias`` (a name, or ``{model, hidden}``): aliases of the logical model.
- ``general_settings.master_key``: a config master key (stored hashed).
- ``num_retries``, ``timeout``/``request_timeout``, ``stream_timeout``: every model's settings, unless
  its entries give their own. LiteLLM retries each model group and then each fallback group; LLM Hub's
  ``num_retries`` counts upstream calls across all of a model's routes, so it grows with the fallbacks.
- Everything else is listed as kept or not supported, with the LLM Hub setting that plays its role.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError

from services.catalog.inputs import Name
from services.catalog.litellm_deployments import (
    Environment,
    ImportedCatalog,
    ImportedModel,
    UnsetVariable,
    route_identity,
)
from services.catalog.litellm_fields import number
from services.catalog.litellm_report import MigrationReport, SettingOutcome

SECTIONS = ("litellm_settings", "router_settings", "general_settings")
MASTER_KEY_LABEL = "litellm"
MAX_RETRIES = 20
MAX_TIMEOUT = 3600.0
_names: TypeAdapter[str] = TypeAdapter(Name)

GLOBAL_SETTINGS = (("num_retries", ("num_retries",)), ("timeout", ("timeout", "request_timeout")), ("stream_timeout", ("stream_timeout",)))
"""Our model setting and the LiteLLM names that give it for every model."""
UNSUPPORTED: Final = "not supported"
CALLBACKS: tuple[SettingOutcome, str] = (
    UNSUPPORTED, "every call is recorded in LLM Hub's usage log (Usage and Logs pages, /api/usage/export); Prometheus metrics at /metrics"
)
REDIS: tuple[SettingOutcome, str] = (
    UNSUPPORTED, "one LLM Hub instance keeps its routing state in memory; sharing it between instances is a coming feature"
)
CACHE: tuple[SettingOutcome, str] = (UNSUPPORTED, "LLM Hub has no response cache")
CONSOLE_ADMIN: tuple[SettingOutcome, str] = (UNSUPPORTED, "set LLMHUB_ADMIN_EMAIL / LLMHUB_ADMIN_PASSWORD instead (the first admin)")
PARALLEL: tuple[SettingOutcome, str] = (UNSUPPORTED, "limits are per minute (rpm/tpm on keys and routes) and per gateway token")
GUIDE: dict[str, tuple[SettingOutcome, str]] = {
    "enable_tag_filtering": ("kept", "a model whose routes carry tags always routes by the request's tags (or metadata.tags)"),
    "enable_pre_call_checks": ("kept", "a request is checked against a route's context window when it is known"),
    "store_model_in_db": ("kept", "the catalog lives in LLM Hub's database; the Models and Keys pages edit it"),
    "allowed_fails": (UNSUPPORTED, "set LLMHUB_CIRCUIT_THRESHOLD instead (transient failures in a row that rest a deployment)"),
    "cooldown_time": (UNSUPPORTED, "set LLMHUB_CIRCUIT_OPEN_SECONDS (how long a failing deployment rests) and "
                                   "LLMHUB_DEFAULT_COOLDOWN (after a 429 without Retry-After) instead"),
    "disable_cooldowns": (UNSUPPORTED, "cooldowns follow the providers' 429s and Retry-After"),
    "retry_policy": (UNSUPPORTED, "429s, 5xx and timeouts move on to the next candidate; a caller's error (4xx) is answered at once"),
    "allowed_fails_policy": (UNSUPPORTED, "set LLMHUB_CIRCUIT_THRESHOLD instead: it counts transient failures, never a 4xx"),
    "content_policy_fallbacks": (UNSUPPORTED, "a content-policy refusal is answered to the caller"),
    "redis_host": REDIS, "redis_port": REDIS, "redis_password": REDIS, "redis_url": REDIS,
    "cache": CACHE, "cache_params": CACHE,
    "success_callback": CALLBACKS, "failure_callback": CALLBACKS, "callbacks": CALLBACKS, "service_callbacks": CALLBACKS,
    "drop_params": (UNSUPPORTED, "requests reach OpenAI-format providers as sent and are translated for the others"),
    "set_verbose": (UNSUPPORTED, "set LLMHUB_LOG_LEVEL instead"),
    "json_logs": (UNSUPPORTED, "logs are text lines; LLMHUB_LOG_LEVEL sets how much is logged"),
    "database_url": (UNSUPPORTED, "LLM Hub keeps its data in SQLite under LLMHUB_DATA_DIR"),
    "alerting": (UNSUPPORTED, "budget alerts and their webhook are set on the Alerts page"),
    "ui_username": CONSOLE_ADMIN, "ui_password": CONSOLE_ADMIN,
    "max_parallel_requests": PARALLEL, "global_max_parallel_requests": PARALLEL,
    "max_budget": (UNSUPPORTED, "monthly budgets per gateway token and per person (Usage page), monthly_usd on keys and routes"),
    "background_health_checks": (UNSUPPORTED, "/health reports each provider's state; the Keys page tests a key on demand"),
    "guardrails": (UNSUPPORTED, "LLM Hub has no guardrails"),
}
HANDLED = {
    "fallbacks", "context_window_fallbacks", "default_fallbacks", "model_group_alias", "master_key", "num_retries",
    "timeout", "request_timeout", "stream_timeout", "routing_strategy", "tag_filtering_match_any",
}


def apply_settings(raw: Mapping[str, Any], imported: ImportedCatalog, env: Environment) -> None:
    report = imported.report
    sections: dict[str, Mapping[str, Any]] = {name: raw[name] if isinstance(raw.get(name), Mapping) else {} for name in SECTIONS}
    fallbacks = _Fallbacks(imported)
    fallbacks.apply(sections)
    _aliases(sections["router_settings"].get("model_group_alias"), imported)
    _master_key(sections["general_settings"], imported, env)
    _retries_and_timeouts(sections, imported, fallbacks.count)
    _strategy(sections["router_settings"], report)
    for section, values in sections.items():
        if raw.get(section) is not None and not isinstance(raw.get(section), Mapping):
            report.setting(section, UNSUPPORTED, "not a mapping; ignored")
        for key in values:
            if key not in HANDLED:
                outcome, note = GUIDE.get(str(key), (UNSUPPORTED, "LLM Hub has no equivalent; ignored"))
                report.setting(f"{section}.{key}", outcome, note)
    for key in raw:
        if key not in {"model_list", "environment_variables", "credential_list", *SECTIONS}:
            outcome, note = GUIDE.get(str(key), (UNSUPPORTED, "LLM Hub has no equivalent; ignored"))
            report.setting(str(key), outcome, note)


class _Fallbacks:
    """Appends fallback models' routes; ``count`` is how many ordinary fallback models each model got."""

    def __init__(self, imported: ImportedCatalog) -> None:
        self.imported = imported
        self.own = {name: [dict(r) for r in model.routes] for name, model in imported.models.items()}
        self.count: dict[str, int] = {}

    def apply(self, sections: Mapping[str, Mapping[str, Any]]) -> None:
        with_own: set[str] = set()
        for setting, context in (("fallbacks", False), ("context_window_fallbacks", True)):
            for section in ("litellm_settings", "router_settings"):
                if setting not in sections[section]:
                    continue
                chains = _chains(sections[section][setting])
                if chains is None:
                    self.report.setting(f"{section}.{setting}", UNSUPPORTED, 'not a list of {"model": ["fallback", …]}; ignored')
                    continue
                for model, targets in chains.items():
                    outcome, note = self._chain(model, targets, context)
                    self.report.setting(f'{section}.{setting}["{model}"]', outcome, note)
                    if not context:
                        with_own.add(self.imported.names.get(model, model))
        for section in ("litellm_settings", "router_settings"):
            if "default_fallbacks" in sections[section]:
                self._defaults(f"{section}.default_fallbacks", sections[section]["default_fallbacks"], with_own)

    @property
    def report(self) -> MigrationReport:
        return self.imported.report

    def _defaults(self, setting: str, value: object, with_own: set[str]) -> None:
        targets = [value] if isinstance(value, str) else value
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            self.report.setting(setting, UNSUPPORTED, "not a list of model names; ignored")
            return
        unknown = [t for t in targets if isinstance(self._routes_of(t, ""), str)]
        served = 0
        for name in self.own:
            chain = [t for t in targets if t not in unknown and self.imported.names.get(t, t) != name]
            if name not in with_own and chain and self._chain(name, chain, False)[0] == "mapped":
                served += 1
        problems = f"; {', '.join(unknown)}: not a model of this file" if unknown else ""
        self.report.setting(setting, "mapped" if served else UNSUPPORTED,
                            f"{', '.join(targets)} appended to {served} model(s) without fallbacks of their own{problems}")

    def _chain(self, source: str, targets: list[str], context: bool) -> tuple[SettingOutcome, str]:
        logical = self.imported.names.get(source, source)
        model = self.imported.models.get(logical)
        if model is None or not model.routes:
            return UNSUPPORTED, f"{source} is not a model of this file; ignored"
        appended, problems = [], []
        lowest = max(r.get("priority", 1) for r in model.routes)
        for target in targets:
            routes = self._routes_of(target, logical)
            if isinstance(routes, str):
                problems.append(f"{target}: {routes}")
                continue
            added = self._append(model, routes, lowest, context)
            if added:
                lowest = max(r["priority"] for r in added)
                appended.append(target)
        if appended and not context:
            self.count[logical] = self.count.get(logical, 0) + len(appended)
        kind = "context-window fallback routes (tried only for a request that did not fit)" if context else "fallback routes"
        note = f"{', '.join(appended) or 'nothing'} appended to {logical} as {kind}" + "".join(f"; {p}" for p in problems)
        return ("mapped" if appended else UNSUPPORTED), note

    def _routes_of(self, target: str, source: str) -> list[dict[str, Any]] | str:
        """The routes a fallback target stands for, or why there are none."""
        logical = self.imported.names.get(target, target)
        if logical == source:
            return "a model cannot fall back to itself"
        if self.own.get(logical):
            return [dict(r) for r in self.own[logical]]
        if target in self.imported.deployments:
            return [dict(self.imported.deployments[target][1])]
        for pattern in sorted((n for n in self.own if n.endswith("*")), key=len, reverse=True):
            if target.startswith(pattern[:-1]) and len(target) >= len(pattern):
                matched = target[len(pattern) - 1 :]
                return [{**r, "model": r["model"].replace("*", matched)} for r in self.own[pattern]]
        return "not a model_name or model_info.id of this file"

    @staticmethod
    def _append(model: ImportedModel, routes: list[dict[str, Any]], lowest: int, context: bool) -> list[dict[str, Any]]:
        """Add ``routes`` after priority ``lowest``, keeping their own order; those the model has already are left out."""
        first = min(r.get("priority", 1) for r in routes)
        taken = {route_identity(r) for r in model.routes}
        added = []
        for route in routes:
            if "*" in route["model"] and not model.name.endswith("*"):
                continue
            copy = {**route, "priority": route.get("priority", 1) - first + lowest + 1}
            if context:
                copy["context_fallback"] = True
            if route_identity(copy) not in taken:
                model.routes.append(copy)
                added.append(copy)
        return added


def _chains(value: object) -> dict[str, list[str]] | None:
    """``[{"model": ["a", "b"]}, …]`` (or one mapping) → {model: [targets]}; None if it is not that shape."""
    items = [value] if isinstance(value, Mapping) else value
    if not isinstance(items, list):
        return None
    chains: dict[str, list[str]] = {}
    for item in items:
        if not isinstance(item, Mapping):
            return None
        for model, targets in item.items():
            targets = [targets] if isinstance(targets, str) else targets
            if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
                return None
            chains.setdefault(str(model), []).extend(targets)
    return chains


def _aliases(value: object, imported: ImportedCatalog) -> None:
    report = imported.report
    if value is None:
        return
    if not isinstance(value, Mapping):
        report.setting("router_settings.model_group_alias", UNSUPPORTED, "not a mapping of alias → model; ignored")
        return
    taken = set(imported.models) | set(imported.names)
    for alias, target in value.items():
        setting = f'router_settings.model_group_alias["{alias}"]'
        name = target.get("model") if isinstance(target, Mapping) else target
        logical = imported.names.get(str(name), str(name))
        model = imported.models.get(logical)
        try:
            _names.validate_python(str(alias))
        except ValidationError:
            report.setting(setting, UNSUPPORTED, "an alias may not contain '/' or be empty; ignored")
            continue
        if model is None or not model.routes:
            report.setting(setting, UNSUPPORTED, f"{name} is not a model of this file; ignored")
        elif alias in taken:
            report.setting(setting, UNSUPPORTED, f"{alias} is already a model or alias of this file; ignored")
        else:
            model.aliases.append(str(alias))
            taken.add(str(alias))
            hidden = isinstance(target, Mapping) and target.get("hidden")
            listed = "; hidden: LLM Hub lists every alias in /v1/models" if hidden else ""
            report.setting(setting, "mapped", f"an alias of {logical}{listed}")


def _master_key(general: Mapping[str, Any], imported: ImportedCatalog, env: Environment) -> None:
    if general.get("master_key") is None:
        return
    try:
        key = env.value(general["master_key"])
    except UnsetVariable as unset:
        imported.report.setting("general_settings.master_key", UNSUPPORTED, f"environment variable {unset.name} is not set; no master key")
        return
    if len(key) < 8:
        imported.report.setting("general_settings.master_key", UNSUPPORTED, "shorter than 8 characters; no master key")
        return
    imported.master_keys.append({"label": MASTER_KEY_LABEL, "key": key})
    imported.report.setting("general_settings.master_key", "mapped",
                            f'a master key "{MASTER_KEY_LABEL}" for /v1 and /api, stored hashed')


def _retries_and_timeouts(sections: Mapping[str, Mapping[str, Any]], imported: ImportedCatalog, fallbacks: Mapping[str, int]) -> None:
    """Each model's num_retries, timeout and stream_timeout: its entries' largest, else the file's global one."""
    report = imported.report
    global_values: dict[str, float] = {}
    for ours, names in GLOBAL_SETTINGS:
        for section in ("litellm_settings", "router_settings"):  # the router's setting wins
            for name in names:
                if name in sections[section]:
                    value = number(sections[section][name])
                    if value is None or value < 0 or (value == 0 and ours != "num_retries"):
                        report.setting(f"{section}.{name}", UNSUPPORTED, f"{sections[section][name]!r} is not a number > 0; ignored")
                        continue
                    global_values[ours] = value
                    report.setting(f"{section}.{name}", "mapped", _global_note(ours))
    for model in imported.models.values():
        for setting in ("num_retries", "timeout", "stream_timeout"):
            own = model.settings.get(setting, [])
            if len(set(own)) > 1:
                _note_entries(report, model.name, f"its deployments disagree on {setting}: the largest ({max(own):g}) is used")
            value = max(own) if own else global_values.get(setting)
            if value is not None:
                model.values[setting] = _bounded(setting, value, model, fallbacks.get(model.name, 0), report)


def _global_note(setting: str) -> str:
    if setting == "num_retries":
        return "each model's num_retries, grown by its fallbacks (LiteLLM retries each fallback model as often)"
    if setting == "timeout":
        return "each model's timeout (seconds to wait for an upstream byte)"
    return "each model's stream_timeout (seconds to wait for an upstream byte of a streamed answer)"


def _bounded(setting: str, value: float, model: ImportedModel, fallbacks: int, report: MigrationReport) -> float | int:
    if setting == "num_retries":
        calls = (int(value) + 1) * (1 + fallbacks) - 1
        if calls > MAX_RETRIES:
            _note_entries(report, model.name, f"num_retries {calls} is more than LLM Hub allows: {MAX_RETRIES} used")
        return min(calls, MAX_RETRIES)
    if value > MAX_TIMEOUT:
        _note_entries(report, model.name, f"{setting} {value:g} s is more than LLM Hub allows: {MAX_TIMEOUT:g} s used")
    return min(value, MAX_TIMEOUT)


def _note_entries(report: MigrationReport, model: str, note: str) -> None:
    for entry in report.entries:
        if entry.model == model and entry.outcome != "skipped":
            entry.change(note)


def _strategy(router: Mapping[str, Any], report: MigrationReport) -> None:
    strategy = router.get("routing_strategy")
    if strategy is not None:
        if strategy == "simple-shuffle":
            report.setting("router_settings.routing_strategy", "kept", "routes are tried by priority (order), by weight within one")
        else:
            report.setting("router_settings.routing_strategy", UNSUPPORTED,
                           "LLM Hub tries routes by priority (order) and shuffles by weight within one: set order/weight on entries")
    match_any = router.get("tag_filtering_match_any")
    if match_any is not None:
        outcome: SettingOutcome = "kept" if match_any else UNSUPPORTED
        report.setting("router_settings.tag_filtering_match_any", outcome, "a route matches a request that shares any one of its tags")


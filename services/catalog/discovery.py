"""Model discovery: ask a provider which models it serves, for suggestions in the route editor and for
"add these as models" on a new provider.

One GET (or a few, for the lists that page) per provider with one of its keys, each answer cached for
``CACHE_SECONDS`` so a form that asks again costs nothing:

* OpenAI and OpenAI-compatible servers: ``GET {base}/models`` (``data[].id``), one unpaged list;
* Anthropic: ``GET {base}/v1/models?limit=1000``, then ``after_id=<last_id>`` while ``has_more``;
* Gemini: ``GET {base}/v1beta/models?pageSize=1000``, then ``pageToken`` while a ``nextPageToken`` comes;
  ``models/`` is stripped from the names, and what a model can do is read from ``supportedGenerationMethods``;
* Ollama: ``GET {base}/api/tags`` (``models[].name``), the models pulled on that server.

Failures are the gateway's classified ``UpstreamError`` (a bad key is ``AUTH``, a dead host
``CONNECTION``), so the console says what went wrong in the same words as a key test. The calls are not
on the request path and are not metered: listing models is free with every provider.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from services.accounts.audit import Actor
from services.errors import CatalogError, ErrorKind, UpstreamError
from services.gateway.adapters.errors import classify_response, transport_error
from services.gateway.routing_table import KeyEntry, ProviderEntry, RoutingTable

if TYPE_CHECKING:
    from services.catalog.service import Catalog

CACHE_SECONDS = 600.0
MAX_PAGES = 50
"""A list longer than this many pages is cut short (no real provider comes near it)."""
ANTHROPIC_VERSION = "2023-06-01"
EMBEDDING_HINTS = ("embed", "embedding")
MODEL_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")
Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class DiscoveredModel:
    id: str  # the name to route to (the "Upstream model" of a route)
    label: str  # the provider's display name, when it gives one
    embedding: bool = False


@dataclass(frozen=True, slots=True)
class Discovery:
    provider: str
    models: tuple[DiscoveredModel, ...]
    fetched_at: float

    @property
    def ids(self) -> list[str]:
        return [model.id for model in self.models]


def suggested_name(upstream_model: str) -> str:
    """A logical model name for an upstream model: ``llama3.2:latest`` → ``llama3.2``, ``org/m:tag`` → ``org-m-tag``."""
    name = upstream_model.removeprefix("models/").removesuffix(":latest")
    return MODEL_NAME_CHARACTERS.sub("-", name).strip("-._")[:64] or "model"


def _is_embedding(model_id: str) -> bool:
    return any(hint in model_id.lower() for hint in EMBEDDING_HINTS)


# -- one provider's list, per wire format -------------------------------------------------------------

Get = Callable[[str, dict[str, str], dict[str, str]], Awaitable[Json]]
"""(url, headers, query) → the parsed JSON answer, or a classified UpstreamError."""


async def _openai(get: Get, base: str, secret: str) -> list[DiscoveredModel]:
    headers = {"authorization": f"Bearer {secret}"} if secret else {}
    answer = await get(f"{base}/models", headers, {})
    return [DiscoveredModel(str(m["id"]), str(m["id"]), _is_embedding(str(m["id"]))) for m in answer.get("data") or [] if m.get("id")]


async def _anthropic(get: Get, base: str, secret: str) -> list[DiscoveredModel]:
    headers = {"x-api-key": secret, "anthropic-version": ANTHROPIC_VERSION}
    found: list[DiscoveredModel] = []
    query = {"limit": "1000"}
    for _ in range(MAX_PAGES):
        answer = await get(f"{base}/v1/models", headers, query)
        found += [DiscoveredModel(str(m["id"]), str(m.get("display_name") or m["id"])) for m in answer.get("data") or [] if m.get("id")]
        if not answer.get("has_more") or not answer.get("last_id"):
            break
        query = {"limit": "1000", "after_id": str(answer["last_id"])}
    return found


def _gemini_model(entry: Json) -> DiscoveredModel | None:
    methods = set(entry.get("supportedGenerationMethods") or ())
    model_id = str(entry.get("name") or "").removeprefix("models/")
    if not model_id or not methods & {"generateContent", "embedContent"}:
        return None  # neither chats nor embeds (e.g. an image or audio model): nothing a route can use
    return DiscoveredModel(model_id, str(entry.get("displayName") or model_id), "generateContent" not in methods)


async def _gemini(get: Get, base: str, secret: str) -> list[DiscoveredModel]:
    root = base if re.search(r"/v1(beta)?$", base) else f"{base}/v1beta"
    found: list[DiscoveredModel] = []
    query = {"pageSize": "1000"}
    for _ in range(MAX_PAGES):
        answer = await get(f"{root}/models", {"x-goog-api-key": secret}, query)
        found += [model for entry in answer.get("models") or [] if (model := _gemini_model(entry))]
        if not answer.get("nextPageToken"):
            break
        query = {"pageSize": "1000", "pageToken": str(answer["nextPageToken"])}
    return found


async def _ollama(get: Get, base: str, secret: str) -> list[DiscoveredModel]:
    headers = {"authorization": f"Bearer {secret}"} if secret else {}
    answer = await get(f"{base}/api/tags", headers, {})
    found = []
    for entry in answer.get("models") or []:
        name = str(entry.get("model") or entry.get("name") or "")
        family = str((entry.get("details") or {}).get("family") or "")
        if name:
            found.append(DiscoveredModel(name, name, _is_embedding(name) or "bert" in family))
    return found


LISTERS: dict[str, Callable[[Get, str, str], Awaitable[list[DiscoveredModel]]]] = {
    "openai": _openai, "openai_compatible": _openai, "anthropic": _anthropic, "gemini": _gemini, "ollama": _ollama,
}


# -- the cache and the calls ------------------------------------------------------------------------------


CacheKey = tuple[str, str, str]
"""(name, kind, base URL): a provider pointed elsewhere is asked again."""


class ModelDiscovery:
    """Fetches and caches each provider's model list."""

    def __init__(self, client: httpx.AsyncClient, table: Callable[[], RoutingTable], clock: Callable[[], float]) -> None:
        self.client = client
        self.table = table
        self.clock = clock
        self._cache: dict[CacheKey, Discovery] = {}

    def cached(self, provider: str) -> Discovery | None:
        """The list fetched within ``CACHE_SECONDS``, if any (no network)."""
        entry = self.table().providers_by_name.get(provider)
        found = self._cache.get(_cache_key(entry)) if entry is not None else None
        return found if found is not None and self.clock() - found.fetched_at < CACHE_SECONDS else None

    async def fetch(self, provider: str, *, refresh: bool = False) -> Discovery:
        """The provider's models (chat models first, then embedding models, each sorted), from the cache unless
        ``refresh``; CatalogError for an unknown provider, UpstreamError when the provider refuses or is down."""
        if not refresh and (found := self.cached(provider)) is not None:
            return found
        table = self.table()
        entry = table.providers_by_name.get(provider)
        if entry is None:
            raise CatalogError(f"no provider named {provider!r}", field="provider", status=404)
        if entry.kind not in LISTERS:
            raise CatalogError(f"{entry.kind} providers have no models list to discover from: add their models by name "
                               "(an Azure deployment name, a Bedrock model id or inference profile, "
                               "a Vertex model such as gemini-2.5-flash or claude-sonnet-4-5@20250929)", field="provider", status=400)
        secret = _listing_secret(entry, table.keys_of(entry.id))
        models = await LISTERS[entry.kind](self._getter(secret), entry.base_url, secret)
        unique = {model.id: model for model in models}
        ordered = sorted(unique.values(), key=lambda m: (m.embedding, m.id.lower()))
        discovery = Discovery(provider, tuple(ordered), self.clock())
        self._cache[_cache_key(entry)] = discovery
        return discovery

    def _getter(self, secret: str) -> Get:
        async def get(url: str, headers: dict[str, str], query: dict[str, str]) -> Json:
            try:
                response = await self.client.get(url, headers=headers, params=query)
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise transport_error(exc, secret) from None
            if not response.is_success:
                raise classify_response(response.status_code, response.content, response.headers, secret)
            try:
                answer = orjson.loads(response.content)
            except orjson.JSONDecodeError:
                raise UpstreamError(ErrorKind.UPSTREAM_5XX, "the models list is not JSON", status=response.status_code) from None
            if not isinstance(answer, dict):
                raise UpstreamError(ErrorKind.UPSTREAM_5XX, "the models list is not a JSON object", status=response.status_code)
            return answer

        return get


def _cache_key(entry: ProviderEntry) -> CacheKey:
    return entry.name, entry.kind, entry.base_url


def _listing_secret(provider: ProviderEntry, keys: Iterable[KeyEntry]) -> str:
    """The first enabled key's secret; Ollama (and other local servers) may have none, the others need one."""
    secret = next((key.secret for key in keys if key.enabled), "")
    if not secret and provider.kind not in ("ollama", "openai_compatible"):
        raise CatalogError(f"{provider.name} has no enabled key to ask for its models with", field="provider", status=409)
    return secret


@dataclass(frozen=True, slots=True)
class AddedModels:
    created: list[str]  # the new logical models' names
    skipped: list[str]  # upstream models whose suggested name was taken already


def add_as_models(catalog: Catalog, actor: Actor, provider: str, upstream_models: Iterable[str]) -> AddedModels:
    """"Add these as models": each upstream model becomes a logical model of its own (its suggested name, one
    route to ``provider``), through the catalog's one write path (each audited). A name taken already is skipped,
    never overwritten."""
    used = {model.name for model in catalog.list_models()}
    created: list[str] = []
    skipped: list[str] = []
    for upstream in upstream_models:
        name = suggested_name(upstream)
        if name in used:
            skipped.append(upstream)
            continue
        used.add(name)
        catalog.create_model(actor, {"name": name, "routes": [{"provider": provider, "model": upstream, "priority": 1, "weight": 1}]})
        created.append(name)
    return AddedModels(created, skipped)

"""Test one provider key with a one-token call through its adapter (the console's **Test** button).

The call goes straight to the key's provider — no router, no failover — so the answer is about this
key alone. Its outcome counts like a routed call's: an auth failure marks the key invalid, a 429
cools it down, and a passing test re-enables a key that was marked invalid or exhausted.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.accounts.audit import Actor, record_event
from services.errors import CatalogError, UpstreamError
from services.gateway.adapters import get_adapter
from services.gateway.adapters.base import Target
from services.gateway.presets import preset_of
from services.gateway.routing_table import KeyEntry, ProviderEntry, RoutingTable

if TYPE_CHECKING:
    from services.hub import Hub

#: The model a test asks for when no logical model routes to the key's provider yet.
DEFAULT_TEST_MODELS: dict[str, str] = {
    "openai": "gpt-4o-mini",
    "openai_compatible": "gpt-4o-mini",
    "anthropic": "claude-haiku-4-5",
    "gemini": "gemini-2.5-flash",
    "ollama": "llama3.2",
    "azure": "gpt-4o-mini",  # a deployment named after its model, the usual habit
    "bedrock": "anthropic.claude-3-haiku-20240307-v1:0",
    "vertex": "gemini-2.5-flash",
}
PING = "ping"


@dataclass(frozen=True, slots=True)
class KeyTestResult:
    key_id: int
    model: str
    ok: bool
    latency_ms: float
    status: int | None = None
    error: str | None = None  # the provider's own error text
    reenabled: bool = False

    @property
    def summary(self) -> str:
        if self.ok:
            return f"OK in {self.latency_ms:.0f} ms ({self.model})" + (" · key re-enabled" if self.reenabled else "")
        status = f"{self.status}: " if self.status else ""
        return f"{status}{self.error}"


def find_key(table: RoutingTable, key_id: int) -> KeyEntry:
    for keys in table.keys_by_provider.values():
        for key in keys:
            if key.id == key_id:
                return key
    raise CatalogError(f"no key with id {key_id}", field="key_id", status=404)


def model_for_test(table: RoutingTable, provider: ProviderEntry) -> str:
    """The upstream model of the first route that uses this provider, else its preset's or its kind's default."""
    for routes in table.models.values():
        for route in routes:
            if route.provider.id == provider.id:
                return route.upstream_model
    preset = preset_of(provider.options)
    return (preset.test_model if preset else "") or DEFAULT_TEST_MODELS.get(provider.kind, DEFAULT_TEST_MODELS["openai"])


async def run_key_test(hub: Hub, actor: Actor, key_id: int, *, model: str | None = None) -> KeyTestResult:
    """Send ``ping`` with ``max_tokens: 1`` through the key; record the outcome in its health and
    the audit log."""
    table = hub.table
    key = find_key(table, key_id)
    provider = table.providers[key.provider_id]
    model = model or model_for_test(table, provider)
    result = await _ping(hub, provider, key, model)
    detail = {"ok": result.ok, "model": result.model, "latency_ms": result.latency_ms, "status": result.status}
    target = f"{provider.name}/{key.label}"
    await asyncio.to_thread(record_event, hub.engine, actor, "key.test", target,
                            {"key_id": key.id, **{k: v for k, v in detail.items() if v is not None}})
    return result


async def _ping(hub: Hub, provider: ProviderEntry, key: KeyEntry, model: str) -> KeyTestResult:
    body = {"model": model, "messages": [{"role": "user", "content": PING}], "max_tokens": 1}
    began = time.perf_counter()
    try:
        target = Target(provider.kind, provider.base_url, key.secret, model, options=provider.options)
        await get_adapter(provider.kind).chat(hub.client, target, body)
    except UpstreamError as error:
        hub.states.on_failure(key, model, error, hub.clock.now())
        return KeyTestResult(key.id, model, False, _ms_since(began), error.status, error.message)
    latency = _ms_since(began)
    reenabled = hub.states.status(key.id, hub.clock.now()) in ("invalid", "exhausted")
    if reenabled:
        hub.states.reset_key(key.id)
    return KeyTestResult(key.id, model, True, latency, reenabled=reenabled)


def _ms_since(began: float) -> float:
    return round((time.perf_counter() - began) * 1000, 1)

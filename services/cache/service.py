"""The response cache: a call's answer served again, without an upstream call, to the same question.

For a model whose settings turn it on (``services.cache.policy``), ``consult`` decides before the
call: ``skip`` (the client sent ``Cache-Control: no-cache``, or the call is not deterministic and the
model caches only those), ``hit`` (an answer is stored under the request's key, or the semantic cache
found a near-duplicate) or ``miss``. A hit is answered by the caller from ``plan.found`` and metered
here (``meter_hit``: a usage row with ``cache_hit``, cost 0, the original's cost as saved, nothing held
on or charged to a budget); a miss goes to the gateway as usual and its answer is kept (``keep``,
``recorded``) unless the client sent ``no-store``. A model without a cache costs one dictionary lookup.

Entries are scoped (``keys.scope_of``): the token that stored one finds it, or every token of its
owner, or everyone, as the model's ``scope`` says. Admins purge by model, by token, or all (audited);
a scheduled job evicts entries past their TTL and each model's oldest beyond its size limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from services.accounts.audit import Actor, record_event
from services.accounts.tokens import Principal
from services.cache import keys
from services.cache.local_model import LOCAL_MODEL, LocalEmbedder
from services.cache.policy import CacheSettings
from services.cache.replay import Batches, recorded
from services.cache.semantic import Question, SemanticIndex, embed_question, normalized
from services.cache.stats import CACHE_STATS
from services.cache.store import (
    AnswerStore,
    CachedAnswer,
    delete_entries,
    evict_entries,
    load_index,
    load_vectors,
    read_entry,
    write_entries,
)
from services.clock import Clock
from services.gateway.calls import CallMeta, Gateway, MeteredStream
from services.gateway.long_requests import is_long, prepared
from services.gateway.routing_table import RoutingTable

log = logging.getLogger(__name__)
Json = dict[str, Any]
CACHED_ENDPOINTS = frozenset({"chat", "embeddings", "messages", "responses", "completions"})
FLUSH_SECONDS = 0.5


@dataclass(slots=True)
class CachePlan:
    """What the cache does for one call."""

    principal: Principal
    endpoint: str
    model: str  # the logical model
    body: Json
    settings: CacheSettings
    key: str
    status: str  # "hit" | "miss" | "skip"
    store: bool  # keep the answer of a miss
    found: CachedAnswer | None = None
    question: Question | None = None  # the semantic cache's view of the call (its models only)

    @property
    def streams(self) -> bool:
        return self.body.get("stream") is True

    @property
    def wants_usage(self) -> bool:
        options = self.body.get("stream_options")
        return isinstance(options, dict) and bool(options.get("include_usage"))


def directives(cache_control: str | None) -> frozenset[str]:
    """The request's ``Cache-Control`` directives, lower-case."""
    if not cache_control:
        return frozenset()
    return frozenset(part.strip().lower() for part in cache_control.split(","))


def deterministic(body: Json) -> bool:
    """Whether a call asks for the likeliest answer (temperature 0, or left to a default the cache cannot know)."""
    temperature = body.get("temperature")
    return temperature is None or temperature == 0


class ResponseCache:
    def __init__(self, engine: Engine, table: Callable[[], RoutingTable], gateway: Gateway, clock: Clock) -> None:
        self.engine = engine
        self.table = table
        self.gateway = gateway
        self.clock = clock
        self.answers = AnswerStore()
        self.semantic = SemanticIndex()
        self.local = LocalEmbedder()
        self._pending: list[CachedAnswer] = []
        self._writer: asyncio.Task[None] | None = None
        self._table_seen: RoutingTable | None = None
        self._any_cache = False

    # -- the request path --------------------------------------------------------------------------

    def settings_for(self, requested: Any) -> tuple[str, CacheSettings] | None:
        """The logical model and its cache settings, when a requested name has a cache that is on."""
        table = self.table()
        if table is not self._table_seen:  # a new routing snapshot: does any model cache at all?
            self._table_seen = table
            self._any_cache = any(settings.cache is not None and settings.cache.enabled for settings in table.settings.values())
        if not self._any_cache or not isinstance(requested, str):
            return None
        resolved = table.resolve(requested)
        if resolved is None or resolved.model is None or resolved.settings.cache is None or not resolved.settings.cache.enabled:
            return None
        return resolved.model, resolved.settings.cache

    async def consult(self, principal: Principal, endpoint: str, body: Any, headers: Mapping[str, str],
                      validate: Callable[[Any], object]) -> CachePlan | None:
        """The cache's plan for a call (None when its model has no cache); ``validate`` runs first, so a
        bad request is refused as it would be without a cache."""
        found = self.settings_for(body.get("model")) if isinstance(body, dict) and endpoint in CACHED_ENDPOINTS else None
        if found is None or not principal.may_use(body["model"]):  # a model the token may not use is refused by admission
            return None
        long = is_long(body)  # a long conversation is validated and hashed off the event loop
        await prepared(long, validate, body)
        model, settings = found
        control = directives(headers.get("cache-control"))
        form = "any" if endpoint == "chat" else "stream" if body.get("stream") is True else "json"  # a chat answer serves both
        scope = keys.scope_of(principal, settings.scope)
        eligible = not settings.only_deterministic or deterministic(body)
        key = await prepared(long, keys.request_key, endpoint, form, scope, body)
        plan = CachePlan(principal, endpoint, model, body, settings, key, "skip", eligible and "no-store" not in control)
        looks_up = eligible and "no-cache" not in control
        if looks_up:
            plan.found = await self._find(plan.key)
        if plan.found is None and (looks_up or plan.store) and settings.semantic and settings.embedding_model:
            plan.question = await self._question(plan, form, scope)
            if looks_up and plan.question is not None:
                plan.found = await self._similar(plan.question, settings.threshold)
        if looks_up:
            plan.status = "hit" if plan.found is not None else "miss"
            CACHE_STATS.looked_up(model, plan.found)
        return plan

    async def _question(self, plan: CachePlan, form: str, scope: str) -> Question | None:
        """The call's last user turn in its context, embedded; None when it has none (or it is not a conversation)."""
        text = keys.last_user_text(plan.endpoint, plan.body) if plan.endpoint != "embeddings" else None
        if text is None or plan.settings.embedding_model is None:
            return None
        model = plan.settings.embedding_model
        vector = await (self.local.embed(text) if model == LOCAL_MODEL else embed_question(self.gateway, model, text))
        return Question(keys.context_key(plan.endpoint, form, scope, plan.body), vector)

    async def _similar(self, question: Question, threshold: float) -> CachedAnswer | None:
        if question.vector is None:
            return None
        key = self.semantic.nearest(question.context, question.vector, threshold)
        if key is None:
            return None
        found = await self._find(key)
        if found is None:
            self.semantic.forget([key])
        return found

    async def _find(self, key: str) -> CachedAnswer | None:
        now = self.clock.now()
        answer = self.answers.recent(key, now)
        if answer is None and self.answers.stored(key, now):
            answer = await asyncio.to_thread(read_entry, self.engine, key)
            if answer is None or answer.expires_at <= now:
                self.answers.forget([key])
                return None
            self.answers.keep(answer)
        return answer

    def meter_hit(self, plan: CachePlan, request_id: str) -> CallMeta:
        """The usage row of a hit (the caller answers from ``plan.found``); its meta, for the answer's headers."""
        answer = plan.found
        assert answer is not None
        meta = CallMeta(request_id, plan.principal, str(plan.body["model"]), "api", plan.endpoint, plan.body.get("stream") is True)
        meta.first_byte = meta.started
        meta.cache, meta.saved_micros = "hit", answer.cost_micros
        meta.cache_age = max(0, int(self.clock.now() - answer.created_at))
        self.gateway.record_hit(meta, answer.prompt_tokens, answer.completion_tokens)
        return meta

    def kept(self, plan: CachePlan | None, content: bytes, meta: CallMeta) -> bytes:
        """A whole answer that went upstream, kept (unless the plan says not to) and marked with what the
        cache did (its ``x-llmhub-cache``); the answer, for the caller to send."""
        if plan is not None:
            meta.cache = plan.status
            self._keep(plan, content, meta)
        return content

    def _keep(self, plan: CachePlan, content: bytes, meta: CallMeta) -> None:
        """Keep an answer that went upstream (a JSON answer, or a recorded stream's content)."""
        if not plan.store or meta.metered is None:
            return
        prompt, completion, cost = meta.metered
        now = self.clock.now()
        form = "json" if not meta.stream else ("chunks" if plan.endpoint == "chat" else "events")
        answer = CachedAnswer(plan.key, plan.model, plan.endpoint, form, content, now, now + plan.settings.ttl_seconds,
                              plan.principal.token_id, plan.principal.user_id, prompt, completion, cost)
        question = plan.question
        if question is not None and question.vector is not None:
            answer.context_key, answer.vector = question.context, question.vector.tobytes()
            self.semantic.add(question.context, plan.key, question.vector)
        self.answers.keep(answer)
        self._pending.append(answer)

    def recorded(self, plan: CachePlan | None, stream: MeteredStream) -> Batches:
        """A stream's batches, recorded for the cache on their way out (or just the batches)."""
        if plan is None:
            return stream.batches()
        stream.meta.cache = plan.status
        if not plan.store:
            return stream.batches()
        return recorded(stream, plan.wants_usage, lambda content: self._keep(plan, content, stream.meta))

    # -- the table: writes, purges, eviction -------------------------------------------------------

    async def start(self) -> None:
        self.answers.known = await asyncio.to_thread(load_index, self.engine, self.clock.now())
        for entry in await asyncio.to_thread(load_vectors, self.engine, self.clock.now()):
            vector = normalized(np.frombuffer(entry.vector or b"", dtype=np.float32))
            if entry.context_key is not None and vector is not None:
                self.semantic.add(entry.context_key, entry.key, vector)
        self._writer = asyncio.create_task(self._write_loop())
        if any(s.cache is not None and s.cache.semantic and s.cache.embedding_model == LOCAL_MODEL for s in self.table().settings.values()):
            self.local.start_loading()

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        await self.flush()

    async def _write_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await self.flush()
            except Exception:
                log.exception("response cache: a batch of entries could not be written")

    async def flush(self) -> None:
        """Write the answers kept since the last flush."""
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.to_thread(write_entries, self.engine, pending)

    async def purge(self, actor: Actor, *, model: str | None = None, token_id: int | None = None) -> int:
        """Delete the entries of a model, of a token, or all of them; how many went (audited)."""
        await self.flush()
        target = f"model:{model}" if model is not None else f"token:{token_id}" if token_id is not None else "all"

        def purge() -> list[str]:
            deleted = delete_entries(self.engine, model=model, token_id=token_id)
            record_event(self.engine, actor, "cache.purge", target, {"entries": len(deleted)})
            return deleted

        deleted = await asyncio.to_thread(purge)
        self._forget(deleted)
        return len(deleted)

    async def evict(self) -> int:
        """Scheduled: delete expired entries and each model's oldest beyond its limits; how many went."""
        await self.flush()
        limits = {name: (s.cache.max_entries, s.cache.max_bytes) for name, s in self.table().settings.items() if s.cache is not None}
        deleted = await asyncio.to_thread(evict_entries, self.engine, self.clock.now(), limits)
        self._forget(deleted)
        return len(deleted)

    def _forget(self, deleted: list[str]) -> None:
        self.answers.forget(deleted)
        self.semantic.forget(deleted)

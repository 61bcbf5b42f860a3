"""One gateway call from admission to metering, with no HTTP framework in sight.

The ``/v1`` API and the console's compare page both call this, so routing, limits and usage are
written once. A call: validate the body, admit the principal (model list, rpm, budget), run the
router, meter the result (usage row queued, key and token counters updated).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypedDict, TypeVar, Unpack

import orjson
from sqlalchemy.engine import Engine

from services.accounts.tokens import NO_HOLD, Hold, Principal, TokenRegistry
from services.errors import ErrorKind, GatewayError, UpstreamError
from services.gateway.adapters.base import Adapter, Json, Target
from services.gateway.adapters.shapes import new_id, prompt_chars
from services.gateway.adapters.tally import StreamTally
from services.gateway.body_log import BodyLog, loggable_answer
from services.gateway.dialects.base import InboundDialect
from services.gateway.dialects.relay import relay_answer, relay_stream, translated_answer, translated_events
from services.gateway.long_requests import is_long, prepared
from services.gateway.parameters import honoured
from services.gateway.plan import Candidate
from services.gateway.pricing import MediaUnits, PriceTable
from services.gateway.reservation import call_allowance, worst_case_micros
from services.gateway.router import NO_FACTS, AdapterCall, RequestFacts, Router
from services.gateway.secret_values import SecretValues
from services.gateway.token_count import estimate_tokens
from services.gateway.trail import RouteTrail
from services.gateway.validation import RequestLimits, validate_chat_body, validate_embedding_body
from services.usage.recorder import UsageRecorder
from services.usage.settings import redact

T = TypeVar("T")
ChunkBatches = AsyncGenerator[list[bytes], None]
CallSource = Literal["api", "console"]  # the usage row's ``source``
Endpoint = str  # the usage row's ``endpoint``: "chat", "embeddings", or an inbound dialect's (``InboundDialect.endpoint``)


NO_HEADERS: Mapping[str, str] = {}


class StreamUsage(Protocol):
    """What a stream's usage is read from at its end: the tally of a chat stream, the watcher of a native one."""

    def final_usage(self, prompt_chars: int) -> Json: ...


U = TypeVar("U", bound=StreamUsage)


async def _first_batch(batches: ChunkBatches, usage: U) -> tuple[list[bytes], ChunkBatches, U]:
    """A stream opened as far as its first batch (a failure up to there is one the router can fail over)."""
    try:
        first = await anext(batches)
    except BaseException:
        await batches.aclose()
        raise
    return first, batches, usage


def new_request_id() -> str:
    return new_id("req_")


@dataclass(slots=True)
class CallMeta:
    """Facts about one call that the API turns into headers and the recorder into a row."""

    request_id: str
    principal: Principal
    requested_model: str
    source: CallSource
    endpoint: Endpoint
    stream: bool
    started: float = field(default_factory=time.perf_counter)
    trail: RouteTrail = field(default_factory=RouteTrail)
    first_byte: float | None = None
    logged_request: Json | None = None  # the redacted request body, only while body logging is on
    facts: RequestFacts | None = None  # what routing needs besides the model: the request's tags and size
    dropped: list[str] = field(default_factory=list)  # parameters the serving route could not honour, dropped (``drop_params``)
    hold: Hold = NO_HOLD  # the call's reservation on its budgets, until it is metered
    metered: tuple[int, int, int | None] | None = None  # prompt and completion tokens and cost (micro-USD), once metered
    cache: str | None = None  # what the response cache did: "hit", "miss" or "skip" (``services.cache``); None: no cache
    cache_age: int | None = None  # a hit's: seconds since the answer was stored
    saved_micros: int | None = None  # a hit's: what the call it replays cost

    @property
    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    @property
    def overhead_ms(self) -> float:
        return self.overhead_ms_at(time.perf_counter())

    def overhead_ms_at(self, now: float) -> float:
        """Time spent in the gateway itself: everything but awaiting upstream bytes (``trail.upstream_ms``
        counts only those waits, not the adapters' encoding, parsing and translating)."""
        end = self.first_byte if self.first_byte is not None else now
        return max(0.0, (end - self.started) * 1000 - self.trail.upstream_ms)

    @property
    def served(self) -> Candidate | None:
        return self.trail.served


class CallOutcome(TypedDict, total=False):
    """How a call ended, for its usage row (``Gateway._record``); an ok answer passes none of these."""

    error: GatewayError | None
    error_code: str | None
    status: str | None
    logged_response: Json | None


def request_tags(body: Json) -> frozenset[str]:
    """A request's routing tags (LiteLLM's ``tags``, top-level or in ``metadata``), or 400 naming the field."""
    metadata = body.get("metadata")
    given = body.get("tags", metadata.get("tags") if isinstance(metadata, dict) else None)
    if given is None:
        return frozenset()
    if isinstance(given, str):
        given = [given]
    if not isinstance(given, list) or not all(isinstance(tag, str) for tag in given):
        raise GatewayError(400, "invalid_request", "`tags` must be a string or a list of strings.", param="tags")
    return frozenset(given)


def without_tags(body: Json) -> Json:
    """The body as it goes upstream: routing tags are the gateway's, no provider takes them."""
    forwarded = {name: value for name, value in body.items() if name != "tags"}
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and "tags" in metadata:
        forwarded["metadata"] = {name: value for name, value in metadata.items() if name != "tags"} or None
        if forwarded["metadata"] is None:
            del forwarded["metadata"]
    return forwarded


def with_defaults(body: Json, target: Target) -> Json:
    """The body with the route's default parameters for those it leaves out."""
    return body if not target.defaults else {**target.defaults, **body}


class Gateway:
    def __init__(self, *, router: Router, tokens: TokenRegistry, recorder: UsageRecorder, pricing: PriceTable, engine: Engine,
                 limits: RequestLimits | None = None, master_key: str | None = None) -> None:
        self.router = router
        self.limits = limits or RequestLimits()
        self.secrets = SecretValues(lambda: router.table, master_key)
        self.tokens = tokens
        self.recorder = recorder
        self.pricing = pricing
        self.body_log = BodyLog(engine)

    async def _begin(self, principal: Principal, body: Json, model: str, *, source: CallSource, endpoint: Endpoint, stream: bool,
               request_id: str | None, prompt_chars: Callable[[Json], int] = prompt_chars) -> CallMeta:
        meta = CallMeta(request_id or new_request_id(), principal, model, source, endpoint, stream)
        if self.body_log.enabled():
            meta.logged_request = redact(body, self.secrets.pattern())
        try:
            meta.hold = await self.tokens.admit_call(principal, model, lambda: worst_case_micros(
                self.router.table, self.pricing, model,
                call_allowance(body, endpoint, prompt_chars, self.limits.reserved_completion_tokens)))
            tags = request_tags(body)
        except GatewayError as error:
            self._record(meta, error=error)
            raise
        meta.facts = RequestFacts(tags, lambda: estimate_tokens(prompt_chars(body)))
        return meta

    async def chat(
        self, principal: Principal, body: Json, *, source: CallSource = "api", request_id: str | None = None
    ) -> tuple[Json, CallMeta]:
        model = await prepared(is_long(body), validate_chat_body, body, self.limits)
        forwarded = without_tags(body) if "tags" in body or "metadata" in body else body

        def call_for(meta: CallMeta) -> AdapterCall[Json]:
            async def call(adapter: Adapter, target: Target) -> Json:
                return await adapter.chat(self.router.client, target, self._honoured(meta, with_defaults(forwarded, target), target))

            return call

        return await self._answer(principal, body, model, "chat", call_for, source, request_id)

    async def embed(
        self, principal: Principal, body: Json, *, source: CallSource = "api", request_id: str | None = None
    ) -> tuple[Json, CallMeta]:
        model = await prepared(is_long(body), validate_embedding_body, body, self.limits)
        forwarded = without_tags(body) if "tags" in body or "metadata" in body else body

        async def call(adapter: Adapter, target: Target) -> Json:
            return await adapter.embed(self.router.client, target, forwarded)

        return await self._answer(principal, body, model, "embeddings", lambda _meta: call, source, request_id)

    async def _answer(self, principal: Principal, body: Json, model: str, endpoint: Endpoint,
                      call_for: Callable[[CallMeta], AdapterCall[Json]], source: CallSource,
                      request_id: str | None) -> tuple[Json, CallMeta]:
        """One whole (not streamed) answer: admit, route, meter."""
        meta = await self._begin(principal, body, model, source=source, endpoint=endpoint, stream=False, request_id=request_id)
        response = await self._execute(meta, call_for(meta))
        response["model"] = model
        usage = response.get("usage") or {}
        logged = loggable_answer(response) if meta.logged_request is not None else None
        self._record(meta, prompt=usage.get("prompt_tokens", 0), completion=usage.get("completion_tokens", 0), logged_response=logged)
        return response, meta

    async def stream_chat(
        self, principal: Principal, body: Json, *, source: CallSource = "api", request_id: str | None = None
    ) -> ChatStream:
        """Open a stream: failover happens here, before the first chunk is handed out."""
        long = is_long(body)
        model = await prepared(long, validate_chat_body, body, self.limits)
        meta = await self._begin(principal, body, model, source=source, endpoint="chat", stream=True, request_id=request_id)
        forwarded = without_tags(body) if "tags" in body or "metadata" in body else body

        async def call(adapter: Adapter, target: Target) -> tuple[list[bytes], ChunkBatches, StreamTally]:
            tally = StreamTally(model, keep_text=meta.logged_request is not None)
            chat_body = self._honoured(meta, with_defaults(forwarded, target), target)
            chat = await prepared(long, adapter.stream_chat, self.router.client, target, chat_body, tally)
            return await _first_batch(chat, tally)

        first, rest, tally = await self._execute(meta, call)
        meta.first_byte = time.perf_counter()
        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return ChatStream(self, meta, first, rest, tally, wants_usage, prompt_chars(body))

    async def dialect_call(self, principal: Principal, body: Json, dialect: InboundDialect, *, headers: Mapping[str, str] = NO_HEADERS,
                           source: CallSource = "api", request_id: str | None = None) -> tuple[bytes, CallMeta]:
        """A whole answer in an inbound dialect (``services.gateway.dialects``) as JSON text: relayed as
        the provider wrote it on routes that speak the dialect, translated on the others."""
        long = is_long(body)
        model = await prepared(long, dialect.validate, body)
        meta = await self._begin(principal, body, model, source=source, endpoint=dialect.endpoint, stream=False, request_id=request_id,
                           prompt_chars=dialect.prompt_chars)
        forwarded = without_tags(body) if "tags" in body or "metadata" in body else body
        client = self.router.client
        if dialect.answers_locally and (local := self._local_answer(meta, forwarded, dialect)) is not None:
            return local, meta

        async def call(adapter: Adapter, target: Target) -> tuple[bytes, int, int]:
            if dialect.is_native(target.kind):
                return await relay_answer(client, target, dialect, forwarded, headers)
            translated = await prepared(long, dialect.to_chat, forwarded, target.kind)
            chat_body = self._honoured(meta, with_defaults(translated, target), target)
            return await translated_answer(client, adapter, target, dialect, chat_body, model)

        content, prompt, completion = await self._execute(meta, call)
        logged = orjson.loads(content) if meta.logged_request is not None else None
        self._record(meta, prompt=prompt, completion=completion, logged_response=logged)
        return content, meta

    def _local_answer(self, meta: CallMeta, body: Json, dialect: InboundDialect) -> bytes | None:
        """The dialect's own answer when no route of the model speaks it natively (a token count): no
        upstream is called, so none is routed to (its key's rate and health are left alone); None otherwise."""
        candidates = self.router.route_candidates(meta.requested_model, meta.facts.tags if meta.facts else frozenset())
        if not candidates or any(candidate.target.kind == dialect.native_kind for candidate in candidates):
            return None
        answer = dialect.local_answer(dialect.to_chat(body, candidates[0].target.kind))
        if answer is None:
            return None
        self._record(meta)
        return orjson.dumps(answer)

    async def stream_dialect(self, principal: Principal, body: Json, dialect: InboundDialect, *, headers: Mapping[str, str] = NO_HEADERS,
                             source: CallSource = "api", request_id: str | None = None) -> DialectStream:
        """A stream in an inbound dialect, as framed events; failover happens here, before the first one."""
        long = is_long(body)
        model = await prepared(long, dialect.validate, body)
        meta = await self._begin(principal, body, model, source=source, endpoint=dialect.endpoint, stream=True, request_id=request_id,
                           prompt_chars=dialect.prompt_chars)
        forwarded = without_tags(body) if "tags" in body or "metadata" in body else body
        client = self.router.client

        async def call(adapter: Adapter, target: Target) -> tuple[list[bytes], ChunkBatches, StreamUsage]:
            if dialect.is_native(target.kind):
                watcher = dialect.native_watcher(target.api_key)
                return await _first_batch(relay_stream(client, target, dialect, forwarded, headers, watcher), watcher)
            translated = await prepared(long, dialect.to_chat, forwarded, target.kind)
            chat_body = {**self._honoured(meta, with_defaults(translated, target), target), "stream": True}
            tally = StreamTally(model, keep_text=meta.logged_request is not None)
            chat = await prepared(long, adapter.stream_chat, client, target, chat_body, tally)
            events = translated_events(chat, dialect.stream_translator(model, forwarded), tally, prompt_chars(chat_body))
            return await _first_batch(events, tally)

        first, rest, usage = await self._execute(meta, call)
        meta.first_byte = time.perf_counter()
        return DialectStream(self, meta, first, rest, usage, dialect.prompt_chars(body), dialect)

    @staticmethod
    def _honoured(meta: CallMeta, body: Json, target: Target) -> Json:
        """The chat body as this attempt's route can take it (``services.gateway.parameters``); what was
        dropped goes on the call's record."""
        honoured_body, meta.dropped = honoured(body, target)
        return honoured_body

    async def _execute(self, meta: CallMeta, call: AdapterCall[T]) -> T:
        try:
            return await self.router.execute(meta.requested_model, call, meta.trail, meta.facts or NO_FACTS)
        except GatewayError as error:
            error.attempts = meta.trail.as_dicts()
            self._record(meta, error=error)
            raise

    def _record(self, meta: CallMeta, *, prompt: int = 0, completion: int = 0, media: MediaUnits | None = None,
                **outcome: Unpack[CallOutcome]) -> None:
        """Meter a call once its answer is ready to go out.

        Its cost goes on the key's and the token's counters at once (the next call's admission must
        see it), and its usage row is queued, and appended to the usage journal, before the answer's
        last write: a process killed after that write still has the row to replay at its next start
        (``services.usage.journal``). The Prometheus counters, the costly part of metering, are
        updated later with the written batch.
        """
        ended = time.perf_counter()
        served = meta.served
        cost = None
        if served is not None:
            route = served.route
            price = route.price or self.pricing.price(route.provider.kind, route.upstream_model)
            if price is not None:
                cost = price.cost_micros(prompt, completion) if media is None else price.media_cost_micros(media)
            held = meta.facts.estimate() if meta.facts and (served.key.limits.tpm is not None or route.limits.tpm is not None) else 0
            self.router.states.note_usage(served.key.id, route, prompt + completion, cost, self.router.clock.now(), held)
            self.router.note_shared_usage(served, max(prompt + completion - held, 0), prompt + completion, cost or 0)
        self.tokens.settle(meta.principal, meta.hold, cost)
        meta.metered = (prompt, completion, cost)
        self._queue_row(meta, ended, cost, prompt=prompt, completion=completion, **outcome)

    def record_hit(self, meta: CallMeta, prompt: int, completion: int) -> None:
        """Meter a response cache hit (``services.cache``): no route, no cost, no budget; the row says what it saved."""
        self._queue_row(meta, time.perf_counter(), 0, prompt=prompt, completion=completion)

    def _queue_row(self, meta: CallMeta, ended: float, cost: int | None, *, prompt: int, completion: int,
                   error: GatewayError | None = None, error_code: str | None = None, status: str | None = None,
                   logged_response: Json | None = None) -> None:
        served = meta.served
        ttft = (meta.first_byte - meta.started) * 1000 if meta.first_byte is not None else None
        row: dict[str, Any] = {
            "request_id": meta.request_id,
            "source": meta.source,
            "token_id": meta.principal.token_id,
            "user_id": meta.principal.user_id,
            "endpoint": meta.endpoint,
            "requested_model": meta.requested_model,
            "provider_id": served.route.provider.id if served else None,
            "provider_name": served.route.provider.name if served else None,
            "upstream_model": served.route.upstream_model if served else None,
            "key_id": served.key.id if served else None,
            "status": status or ("error" if error or error_code else "ok"),
            "http_status": error.status if error else 200,
            "error_code": error.code if error else error_code,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "cost_micros": cost,
            "latency_ms": round((ended - meta.started) * 1000, 2),
            "ttft_ms": round(ttft, 2) if ttft is not None else None,
            "overhead_ms": round(meta.overhead_ms_at(ended), 3),
            "stream": meta.stream,
            "attempts": _attempt_lines(meta),
        }
        if meta.cache == "hit":
            row["cache_hit"] = True
            row["cost_saved_micros"] = meta.saved_micros
        if meta.logged_request is not None:
            row["request_body"] = meta.logged_request
            row["response_body"] = redact(error.body() if error is not None else logged_response, self.secrets.pattern())
        self.recorder.record(row)


def _attempt_lines(meta: CallMeta) -> list[dict[str, Any]]:
    """The trail for the usage row; the serving attempt's line names the parameters dropped for it."""
    lines = meta.trail.as_dicts()
    if meta.dropped and lines and meta.served is not None:
        lines[-1]["dropped"] = meta.dropped
    return lines


class MeteredStream:
    """The batches of one streamed answer as they go to the client (``batches()``), metered once it ends.

    A failure after the first batch ends the stream with the API's own error event (``_error_event``)
    and the partial usage is still recorded; so is a client that goes away.
    """

    def __init__(self, gateway: Gateway, meta: CallMeta, first: list[bytes], rest: ChunkBatches, prompt_chars: int) -> None:
        self.gateway = gateway
        self.meta = meta
        self._first = first
        self._rest = rest
        self._prompt_chars = prompt_chars
        self.completed = False  # the upstream's stream ended as it should, and all of it went out

    async def batches(self) -> ChunkBatches:
        outcome: dict[str, str] = {"status": "cancelled", "error_code": "client_closed"}
        try:
            yield self._first
            async for batch in self._rest:
                yield batch
            outcome = {}
            if (tail := self._tail()) is not None:
                yield tail
            self.completed = True
        except UpstreamError as error:
            served = self.meta.served
            if served is not None:  # always set: the stream was opened on the candidate that served it
                self.gateway.router.stream_failed(served, error)
            outcome = {"status": "error", "error_code": ErrorKind.STREAM_BROKEN.value}
            broken = GatewayError(502, "stream_broken", f"The upstream stream broke: {error.message}", error_type="api_error")
            yield [self._error_event(broken)]
        finally:
            await self._rest.aclose()
            self._finish(**outcome)

    def _tail(self) -> list[bytes] | None:
        """What goes out after the upstream's last batch, if anything."""
        return None

    def _error_event(self, broken: GatewayError) -> bytes:
        return orjson.dumps(broken.body())

    def _final_usage(self) -> Json:
        raise NotImplementedError

    def _logged_answer(self) -> Json | None:
        return None

    def _finish(self, status: str | None = None, error_code: str | None = None) -> None:
        usage = self._final_usage()
        self.gateway._record(self.meta, prompt=usage.get("prompt_tokens", 0), completion=usage.get("completion_tokens", 0),
                             status=status, error_code=error_code, logged_response=self._logged_answer())


class DialectStream(MeteredStream):
    """An inbound dialect's stream: framed events (``InboundDialect``), ended by the dialect's error event when it breaks."""

    def __init__(self, gateway: Gateway, meta: CallMeta, first: list[bytes], rest: ChunkBatches, usage: StreamUsage,
                 prompt_chars: int, dialect: InboundDialect) -> None:
        super().__init__(gateway, meta, first, rest, prompt_chars)
        self.usage = usage
        self.dialect = dialect

    def _error_event(self, broken: GatewayError) -> bytes:
        return self.dialect.stream_error(broken)

    def _final_usage(self) -> Json:
        return self.usage.final_usage(self._prompt_chars)

    def _logged_answer(self) -> Json | None:
        if self.meta.logged_request is None:
            return None
        text = "".join(self.usage.text) if isinstance(self.usage, StreamTally) else None
        return {"streamed": True, "endpoint": self.meta.endpoint, "text": text, "usage": self._final_usage()}


class ChatStream(MeteredStream):
    """The chunks of one streamed chat answer as JSON text, ready for the client: ``batches()`` a list
    for each upstream read, or one by one as dicts (``async for``).

    The usage chunk, which the tally keeps back, is passed on at the end only when the client asked
    for it; a broken stream ends with an OpenAI-shaped error chunk.
    """

    def __init__(self, gateway: Gateway, meta: CallMeta, first: list[bytes], rest: ChunkBatches, tally: StreamTally,
                 wants_usage: bool, prompt_chars: int) -> None:
        super().__init__(gateway, meta, first, rest, prompt_chars)
        self.tally = tally
        self._wants_usage = wants_usage

    def _tail(self) -> list[bytes] | None:
        return [self.usage_chunk()] if self._wants_usage else None

    def usage_chunk(self) -> bytes:
        return self.tally.usage_chunk(self._prompt_chars)

    async def __aiter__(self) -> AsyncGenerator[Json, None]:
        batches = self.batches()
        try:
            async for batch in batches:
                for text in batch:
                    yield orjson.loads(text)
        finally:
            await batches.aclose()

    def _final_usage(self) -> Json:
        return self.tally.final_usage(self._prompt_chars)

    def _logged_answer(self) -> Json | None:
        """The streamed answer put back together, for body logging."""
        if not self.tally.keep_text:
            return None
        return {"object": "chat.completion", "model": self.meta.requested_model, "streamed": True,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(self.tally.text)},
                             "finish_reason": self.tally.finish_reason}], "usage": self.tally.usage}

"""What every adapter shares: one error classifier, the HTTP calls, stream readers, OpenAI shapes.

Classification is the router's only view of a failure, so it lives in one place. The provider's
own message is kept verbatim (minus the secret) because that is what an operator needs to read;
the *kind* decides what happens to the key:

* quota vs rate limit: both arrive as 429 at some providers. A billing code (OpenAI
  ``insufficient_quota``, Anthropic ``billing_error`` / spend-limit codes), HTTP 402 or a Gemini
  per-day quota violation means the key is out until its window resets. Otherwise a 429 that says
  when to come back (``Retry-After``, Gemini ``RetryInfo``, "try again in 20s") is a rate limit,
  and one that says nothing but talks about quota or billing is quota.
* ``Retry-After`` may be seconds or an HTTP date; ``retry-after-ms`` wins when present, as in the
  official SDKs.
"""

from __future__ import annotations

import base64
import email.utils
import itertools
import re
import secrets
import struct
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import httpx
import orjson

from services.errors import ErrorKind, UpstreamError
from services.gateway.adapters.base import Json
from services.gateway.adapters.transport import UpstreamClient

if TYPE_CHECKING:
    from services.gateway.adapters.tally import StreamTally

JSON_CONTENT_TYPE = "application/json"

QUOTA_CODES = frozenset(
    {
        "insufficient_quota",
        "billing_error",
        "billing_hard_limit_reached",
        "enforced_spend_limit_reached",
        "contract_spend_limit_reached",
        "linked_organization_spend_limit_reached",
        "linked_organization_billing_unavailable",
    }
)
AUTH_CODES = frozenset({"invalid_api_key", "authentication_error", "api_key_invalid", "api_key_expired", "unauthenticated"})
CONTEXT_CODES = frozenset(
    {"context_length_exceeded", "string_above_max_length", "model_context_window_exceeded", "exceed_context_size_error"}
)
# Statuses implied by error codes, for error objects that arrive inside a 200 answer (streams).
CODE_STATUS = {
    "invalid_request_error": 400,
    "invalid_argument": 400,
    "failed_precondition": 400,
    "authentication_error": 401,
    "unauthenticated": 401,
    "billing_error": 402,
    "permission_error": 403,
    "permission_denied": 403,
    "not_found_error": 404,
    "not_found": 404,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "resource_exhausted": 429,
    "api_error": 500,
    "server_error": 500,
    "internal": 500,
    "internal_error": 500,
    "unavailable": 503,
    "timeout_error": 504,
    "deadline_exceeded": 504,
    "overloaded_error": 529,
}
CONTEXT_TEXT = re.compile(
    r"context[ _](?:length|window|size)|maximum context|prompt is too long|input token count"
    r"|exceeds the maximum number of tokens|input is too long|input length exceeds|reduce the length of the messages",
    re.IGNORECASE,
)
QUOTA_TEXT = re.compile(r"quota|billing|credit|spend(?:ing)? limit|insufficient (?:funds|balance)", re.IGNORECASE)
BILLING_TEXT = re.compile(r"credit balance|billing|spend(?:ing)? limit|insufficient (?:funds|balance|credits?)", re.IGNORECASE)
RETRY_IN_TEXT = re.compile(r"(?:try again|retry) in ((?:[0-9]+(?:\.[0-9]+)?(?:ms|h|m|s))+)", re.IGNORECASE)
DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|h|m|s)")
DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
MAX_MESSAGE = 2000
REDACTED = "[redacted]"


# --- error classification -------------------------------------------------------------------------


@dataclass(slots=True)
class ErrorInfo:
    """What an error body says, in every provider's dialect."""

    message: str
    codes: frozenset[str]
    status: int | None = None  # a status the body names (Gemini's numeric ``code``)
    retry_delay: float | None = None  # Gemini ``RetryInfo.retryDelay``
    daily_quota: bool = False  # a Gemini ``QuotaFailure`` on a per-day quota


def read_error(payload: Any) -> ErrorInfo:
    """Read OpenAI ``{"error": {message, type, code}}``, Anthropic ``{"type": "error", "error":
    {type, message, details}}``, Gemini ``{"error": {code, message, status, details}}`` (or a list of
    them) and Ollama ``{"error": "text"}`` bodies."""
    if isinstance(payload, list) and payload:
        payload = payload[0]
    if not isinstance(payload, dict):
        return ErrorInfo("", frozenset())
    error = payload.get("error")
    if isinstance(error, str):
        return ErrorInfo(error, frozenset())
    if not isinstance(error, dict):
        fallback = payload.get("message") or payload.get("detail")
        return ErrorInfo(fallback if isinstance(fallback, str) else "", frozenset())
    codes = {str(error[name]).lower() for name in ("type", "code", "status") if isinstance(error.get(name), str)}
    info = ErrorInfo(str(error.get("message") or ""), frozenset(), error["code"] if isinstance(error.get("code"), int) else None)
    details = error.get("details")
    if isinstance(details, dict) and isinstance(details.get("error_code"), str):
        codes.add(details["error_code"].lower())
    elif isinstance(details, list):
        _read_google_details(details, codes, info)
    info.codes = frozenset(codes)
    return info


def _read_google_details(details: list[Any], codes: set[str], info: ErrorInfo) -> None:
    for detail in details:
        if not isinstance(detail, dict):
            continue
        kind = str(detail.get("@type", ""))
        if kind.endswith("ErrorInfo") and isinstance(detail.get("reason"), str):
            codes.add(detail["reason"].lower())
        elif kind.endswith("RetryInfo"):
            info.retry_delay = _duration_seconds(detail.get("retryDelay"))
        elif kind.endswith("QuotaFailure"):
            violations = detail.get("violations") or ()
            info.daily_quota = any("PerDay" in str(v.get("quotaId", "")) for v in violations if isinstance(v, dict))


def _duration_seconds(value: Any) -> float | None:
    """A protobuf JSON duration such as ``"17s"`` or ``"0.5s"``."""
    if isinstance(value, str) and value.endswith("s"):
        try:
            return float(value[:-1])
        except ValueError:
            return None
    return None


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def _retry_hint(headers: Mapping[str, str] | None, info: ErrorInfo) -> float | None:
    retry_after = parse_retry_after(headers) if headers is not None else None
    if retry_after is None:
        retry_after = info.retry_delay
    if retry_after is None and (match := RETRY_IN_TEXT.search(info.message)):
        retry_after = sum(float(n) * DURATION_UNITS[unit] for n, unit in DURATION_PART.findall(match.group(1).lower()))
    return retry_after


def error_kind(status: int | None, info: ErrorInfo, retry_after: float | None, unknown: ErrorKind = ErrorKind.STREAM_BROKEN) -> ErrorKind:
    """The router's view of one failure. ``status`` is None for an error object inside a 200 answer;
    one that names no known code is ``unknown``."""
    codes = info.codes
    if status is None:
        status = info.status or next((CODE_STATUS[c] for c in codes if c in CODE_STATUS), None)
    if status == 402 or codes & QUOTA_CODES:
        return ErrorKind.QUOTA_EXHAUSTED
    if status in (401, 403) or codes & AUTH_CODES:
        return ErrorKind.AUTH
    if status == 429:
        if info.daily_quota or (retry_after is None and QUOTA_TEXT.search(info.message)):
            return ErrorKind.QUOTA_EXHAUSTED
        return ErrorKind.RATE_LIMITED
    if (status is None or status < 500) and (codes & CONTEXT_CODES or CONTEXT_TEXT.search(info.message)):
        return ErrorKind.CONTEXT_TOO_LONG
    if status is None:
        return unknown
    if status == 408:
        return ErrorKind.TIMEOUT
    if 400 <= status < 500:
        return ErrorKind.QUOTA_EXHAUSTED if BILLING_TEXT.search(info.message) else ErrorKind.BAD_REQUEST
    return ErrorKind.UPSTREAM_5XX


def redact(text: str, secret: str) -> str:
    return text.replace(secret, REDACTED) if secret and secret in text else text


def classify_response(status: int, content: bytes, headers: Mapping[str, str], secret: str) -> UpstreamError:
    """An HTTP error answer as an UpstreamError carrying the provider's own message."""
    try:
        info = read_error(orjson.loads(content))
    except orjson.JSONDecodeError:
        info = ErrorInfo(content[:300].decode("utf-8", "replace").strip(), frozenset())
    retry_after = _retry_hint(headers, info)
    message = redact(info.message[:MAX_MESSAGE], secret) or f"HTTP {status} from upstream"
    return UpstreamError(error_kind(status, info, retry_after), message, status=status, retry_after=retry_after)


def classify_event(payload: Any, secret: str, unknown: ErrorKind = ErrorKind.STREAM_BROKEN) -> UpstreamError:
    """An error object the upstream sent with a 200: inside a stream, or as a whole answer."""
    info = read_error(payload)
    retry_after = _retry_hint(None, info)
    message = redact(info.message[:MAX_MESSAGE], secret) or "the upstream answered 200 with an error object"
    return UpstreamError(error_kind(None, info, retry_after, unknown), message, status=info.status, retry_after=retry_after)


def transport_error(exc: httpx.HTTPError | httpx.InvalidURL, secret: str, *, broken: bool = False) -> UpstreamError:
    """A failure below HTTP; once a stream has produced events it is a broken stream."""
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if broken:
        return UpstreamError(ErrorKind.STREAM_BROKEN, redact(f"the upstream stream broke ({detail})", secret))
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamError(ErrorKind.TIMEOUT, redact(f"the upstream timed out ({detail})", secret))
    return UpstreamError(ErrorKind.CONNECTION, redact(f"could not talk to the upstream ({detail})", secret))


def stream_ended_early() -> UpstreamError:
    return UpstreamError(ErrorKind.STREAM_BROKEN, "the upstream stream ended before the answer was complete")


# --- HTTP calls ----------------------------------------------------------------------------------


async def post_json(client: UpstreamClient, url: str, headers: Mapping[str, str], payload: Json, secret: str) -> Any:
    """POST ``payload`` as JSON and return the parsed answer; every failure comes out classified."""
    try:
        async with client.open(url, headers, orjson.dumps(payload)) as response:
            content = await response.aread()
    except httpx.HTTPError as exc:
        raise transport_error(exc, secret) from None
    if not response.is_success:
        raise classify_response(response.status_code, content, response.headers, secret)
    try:
        answer = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise UpstreamError(ErrorKind.UPSTREAM_5XX, "the upstream answered with invalid JSON", status=response.status_code) from None
    if isinstance(answer, dict) and answer.get("error"):  # some OpenAI-compatible servers answer errors with 200
        raise classify_event(answer, secret, ErrorKind.UPSTREAM_5XX)
    return answer


def parse_event(text: bytes, secret: str) -> Any:
    """One streamed payload; an error object in it, or bad JSON, is raised as a classified UpstreamError."""
    try:
        event = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise UpstreamError(ErrorKind.STREAM_BROKEN, "the upstream stream sent invalid JSON") from None
    if isinstance(event, dict) and event.get("error"):
        raise classify_event(event, secret)
    return event


class LineBuffer:
    """A body's lines (without their ``\n``, ``\r\n`` or ``\r``), a list for each read, as soon as
    their bytes arrived.

    A list a read, not a line at a time: one read of a fast stream holds many lines. httpx's
    ``aiter_lines`` holds a line back until the next chunk shows whether a ``\r`` is followed by
    ``\n``; for a stream that is one event late (a first token that waits for the second). Here a
    chunk ending in ``\r`` releases its line at once, and a ``\n`` opening the next chunk is dropped.
    """

    __slots__ = ("pending", "after_cr")

    def __init__(self) -> None:
        self.pending = b""
        self.after_cr = False

    def split(self, chunk: bytes) -> list[bytes]:
        """The lines this read completes."""
        if self.after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
            if not chunk:
                return []
        self.after_cr = chunk.endswith(b"\r")
        lines = (self.pending + chunk).splitlines()
        self.pending = b"" if chunk.endswith((b"\n", b"\r")) else lines.pop()
        return lines

    def rest(self) -> list[bytes]:
        """The line the body ended in without a line end."""
        return [self.pending] if self.pending else []


class SseFraming:
    """Server-sent events out of lines: the ``data:`` of each event, up to its blank line."""

    def __init__(self) -> None:
        self.data: list[bytes] = []

    def texts(self, lines: list[bytes]) -> list[bytes]:
        """The payloads of the events these lines complete (``[DONE]`` skipped, ``event:`` ignored)."""
        if not self.data and _data_line_pairs(lines):  # the usual read, sorted out by C loops
            completed = [line[6:] for line in lines[::2]]
            while b"[DONE]" in completed:
                completed.remove(b"[DONE]")
            return completed
        completed = []
        for line in lines:
            if line.startswith(b"data:"):
                self.data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif not line and self.data:
                text = self.data[0] if len(self.data) == 1 else b"\n".join(self.data)
                self.data.clear()
                if text != b"[DONE]":
                    completed.append(text)
        return completed

    def rest(self) -> list[bytes]:
        """An event the body ended in without its blank line."""
        text = b"\n".join(self.data)
        return [text] if self.data and text != b"[DONE]" else []


def _data_line_pairs(lines: list[bytes]) -> bool:
    """Whether the lines are whole one-line events only, ``data: …`` and a blank line each."""
    return len(lines) % 2 == 0 and bool(lines) and not any(lines[1::2]) and all(map(bytes.startswith, lines[::2], itertools.repeat(b"data: ")))


class NdjsonFraming:
    """Newline-delimited JSON: every non-empty line is one payload."""

    @staticmethod
    def texts(lines: list[bytes]) -> list[bytes]:
        return [line for line in lines if line]

    @staticmethod
    def rest() -> list[bytes]:
        return []


EventConverter = Callable[[list[bytes], list[Any]], None]
"""Adds what a read's payloads become to a list, in order; what it added before raising still counts."""


async def stream_events(
    client: UpstreamClient,
    url: str,
    headers: Mapping[str, str],
    payload: Json,
    secret: str,
    framing: SseFraming | NdjsonFraming,
    convert: EventConverter,
    ended: Callable[[], None],
) -> AsyncIterator[list[Any]]:
    """POST ``payload`` and hand out the streamed body's payloads through ``convert``, a list for
    each read that brought any; ``ended`` is called once the body ended (to raise if the stream
    stopped short).

    One async generator from the socket to the gateway: opening the upstream, reading it, finding
    the lines and events and converting them all happen in this frame, because every generator
    layer between the socket and the client costs each read a step (and a stream has a read per
    token at human speed).

    The body is read to its end (after an SSE ``[DONE]`` too): a response closed half-read costs its
    pooled connection, and a new TCP connection per stream (the official SDKs drain it too). A
    non-2xx answer, an error object in a payload, or bad JSON, is raised as a classified
    UpstreamError, once the events of the same read before it are handed out; a transport failure
    after the first event is a broken stream.
    """
    lines = LineBuffer()
    started = False
    try:
        async with client.open(url, headers, orjson.dumps(payload)) as response:
            if not response.is_success:
                raise classify_response(response.status_code, await response.aread(), response.headers, secret)
            while chunk := await response.read_chunk():
                events: list[Any] = []
                try:
                    convert(framing.texts(lines.split(chunk)), events)
                except UpstreamError:
                    if events:
                        yield events  # the events before the error still reach the client
                    raise
                if events:
                    started = True
                    yield events
    except httpx.HTTPError as exc:
        raise transport_error(exc, secret, broken=started) from None
    tail: list[Any] = []
    convert([*framing.texts(lines.rest()), *framing.rest()], tail)
    if tail:
        yield tail
    ended()


class StreamTranslator(Protocol):
    """One stream's provider events → OpenAI chunks (None for an event with nothing to say)."""

    @property
    def finished(self) -> bool: ...

    def translate(self, event: Json) -> Json | None: ...

    def usage_chunk(self) -> Json: ...


def translated_stream(
    client: UpstreamClient,
    url: str,
    headers: Mapping[str, str],
    payload: Json,
    secret: str,
    translator: StreamTranslator,
    tally: StreamTally,
    framing: SseFraming | NdjsonFraming | None = None,
) -> AsyncIterator[list[bytes]]:
    """A provider stream (server-sent events unless ``framing`` says otherwise) as OpenAI chunks
    through ``tally`` (a list a read), its usage chunk left with the tally; a stream that stops
    before its finish is broken."""

    def convert(texts: list[bytes], chunks: list[bytes]) -> None:
        for text in texts:
            chunk = translator.translate(parse_event(text, secret))
            if chunk is not None and (out := tally.take(chunk)):
                chunks.append(out)

    def ended() -> None:
        if not translator.finished:
            raise stream_ended_early()
        tally.take(translator.usage_chunk())

    return stream_events(client, url, headers, payload, secret, framing or SseFraming(), convert, ended)


# --- OpenAI shapes -------------------------------------------------------------------------------


_ID_PREFIX = secrets.token_hex(6)
_id_counter = itertools.count(1)


def new_id(prefix: str = "chatcmpl-") -> str:
    """Unique per process (random prefix) without a system call per id, unlike ``token_hex``."""
    return f"{prefix}{_ID_PREFIX}{next(_id_counter):x}"


def make_usage(prompt: int, completion: int, *, cached: int = 0, cache_write: int = 0, reasoning: int = 0) -> Json:
    usage: Json = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    if cached or cache_write:
        usage["prompt_tokens_details"] = {"cached_tokens": cached, "cache_write_tokens": cache_write}
    if reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return usage


def estimate_tokens(chars: int) -> int:
    """About four characters a token: only for upstreams that report no usage at all."""
    return (chars + 3) // 4


def prompt_chars(body: Json) -> int:
    """The characters of a chat request's message texts, for an estimate."""
    return sum(len(text_of(m.get("content"))) for m in body.get("messages", ()) if isinstance(m, dict))


def estimated_usage(prompt_chars: int, completion_chars: int) -> Json:
    """Usage for an upstream that reported none, marked as estimated."""
    return {**make_usage(estimate_tokens(prompt_chars), estimate_tokens(completion_chars)), "estimated": True}


def completion_response(completion_id: str, model: str, choices: list[Json], usage: Json, created: int | None = None) -> Json:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created or int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage,
    }


def message_choice(index: int, content: str | None, tool_calls: list[Json], finish_reason: str | None) -> Json:
    message: Json = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"index": index, "message": message, "logprobs": None, "finish_reason": finish_reason}


def tool_call(call_id: str, name: str, arguments: str) -> Json:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


class ChunkMaker:
    """Builds the ``chat.completion.chunk`` dicts of one translated stream."""

    __slots__ = ("id", "model", "created")

    def __init__(self, completion_id: str, model: str) -> None:
        self.id = completion_id
        self.model = model
        self.created = int(time.time())

    def chunk(self, delta: Json, finish_reason: str | None = None, index: int = 0) -> Json:
        return self.choices([{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}])

    def choices(self, choices: list[Json]) -> Json:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model, "choices": choices}

    def usage(self, usage: Json) -> Json:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage,
        }


# --- request content helpers ---------------------------------------------------------------------


def text_of(content: Any) -> str:
    """The text of an OpenAI message ``content``: a string, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def content_parts(content: Any) -> list[Json]:
    """An OpenAI message ``content`` as a list of parts."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if isinstance(content, list):
        return [p for p in content if isinstance(p, dict)]
    return []


def image_url_of(part: Json) -> str:
    image = part.get("image_url")
    return image.get("url", "") if isinstance(image, dict) else str(image or "")


def parse_data_url(url: str) -> tuple[str, str] | None:
    """``data:image/png;base64,AAAA`` → (``image/png``, ``AAAA``); None for any other URL."""
    if not url.startswith("data:"):
        return None
    header, _, data = url.partition(",")
    media_type, _, encoding = header[5:].partition(";")
    if encoding != "base64":
        data = base64.b64encode(data.encode()).decode()
    return media_type or "application/octet-stream", data


def parse_arguments(arguments: Any) -> Json:
    """Tool-call arguments (an OpenAI JSON string) as the object other providers want."""
    if isinstance(arguments, dict):
        return arguments
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {"arguments": arguments}
    return value if isinstance(value, dict) else {"value": value}


def dump_arguments(arguments: Any) -> str:
    return orjson.dumps(arguments if arguments is not None else {}).decode()


def stop_list(stop: Any) -> list[str]:
    if isinstance(stop, str):
        return [stop]
    return [s for s in stop or () if isinstance(s, str)]


def tool_names_by_id(messages: list[Json]) -> dict[str, str]:
    """Which function each assistant tool call named: Gemini and Ollama answer by name, not id."""
    return {
        call.get("id", ""): (call.get("function") or {}).get("name", "")
        for message in messages
        if message.get("role") == "assistant"
        for call in message.get("tool_calls") or ()
        if isinstance(call, dict)
    }


def merge_consecutive(messages: list[Json], role_key: str, content_key: str) -> list[Json]:
    """Join neighbours of the same role into one message (Anthropic requires alternation)."""
    merged: list[Json] = []
    for message in messages:
        if merged and merged[-1][role_key] == message[role_key]:
            merged[-1][content_key] = merged[-1][content_key] + message[content_key]
        else:
            merged.append(message)
    return merged


def embedding_list(vectors: list[list[float]], model: str, usage: Json, encoding_format: str | None) -> Json:
    """An OpenAI embeddings answer; ``base64`` packs little-endian float32 as the OpenAI SDK expects."""
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": encode_vector(v, encoding_format)} for i, v in enumerate(vectors)],
        "model": model,
        "usage": usage,
    }


def embedding_usage(prompt_tokens: int | None, inputs: list[Any]) -> Json:
    """The upstream's count, or an estimate from the text inputs marked as one."""
    if prompt_tokens is not None:
        return {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    estimate = estimate_tokens(sum(len(text) for text in inputs if isinstance(text, str)))
    return {"prompt_tokens": estimate, "total_tokens": estimate, "estimated": True}


def encode_vector(vector: list[float], encoding_format: str | None) -> list[float] | str:
    if encoding_format != "base64":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def input_list(body: Json) -> list[Any]:
    """The ``input`` of an embeddings request as a list."""
    value = body.get("input")
    return [value] if isinstance(value, str) else list(value or ())


def embedding_inputs(body: Json) -> list[str]:
    """The ``input`` of an embeddings request as texts, for providers that take no token arrays."""
    items = input_list(body)
    if not all(isinstance(item, str) for item in items):
        raise UpstreamError(ErrorKind.BAD_REQUEST, "this provider takes embedding input as text, not token arrays", status=400)
    return items

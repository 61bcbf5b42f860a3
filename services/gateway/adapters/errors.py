"""How a provider's failure becomes an UpstreamError: an error answer, an error event, a transport failure.

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

import email.utils
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from services.errors import ErrorKind, UpstreamError

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
    them), Ollama ``{"error": "text"}`` and OAuth 2.0 ``{"error": "code", "error_description": "text"}`` bodies."""
    if isinstance(payload, list) and payload:
        payload = payload[0]
    if not isinstance(payload, dict):
        return ErrorInfo("", frozenset())
    error = payload.get("error")
    if isinstance(error, str):  # Ollama's text, or an OAuth 2.0 token endpoint's code with its description
        description = payload.get("error_description")
        return ErrorInfo(f"{error}: {description}" if isinstance(description, str) and description else error, frozenset())
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

"""The one error classifier every adapter uses: provider error bodies in, router decisions out."""

from __future__ import annotations

import email.utils

import httpx
import orjson
import pytest

from services.errors import ErrorKind
from services.gateway.adapters.errors import classify_event, classify_response, parse_retry_after, transport_error

SECRET = "sk-live-0123456789abcdef"
NOW = 1_800_000_000.0


def openai_error(message: str, code: str | None, error_type: str = "invalid_request_error") -> bytes:
    return orjson.dumps({"error": {"message": message, "type": error_type, "param": None, "code": code}})


def anthropic_error(error_type: str, message: str, error_code: str | None = None) -> bytes:
    error: dict[str, object] = {"type": error_type, "message": message}
    if error_code:
        error["details"] = {"error_code": error_code}
    return orjson.dumps({"type": "error", "error": error, "request_id": "req_1"})


def gemini_error(status: int, code: str, message: str, *details: dict[str, object]) -> bytes:
    error: dict[str, object] = {"code": status, "message": message, "status": code}
    if details:
        error["details"] = list(details)
    return orjson.dumps({"error": error})


RPC = "type.googleapis.com/google.rpc."


# --- Retry-After ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": email.utils.formatdate(NOW + 30, usegmt=True)}, 30.0),
        ({"retry-after": email.utils.formatdate(NOW - 30, usegmt=True)}, 0.0),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
    ids=["seconds", "fractional", "http-date", "date-in-the-past", "ms-wins", "garbage", "absent"],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, now=NOW) == expected


def test_retry_after_reads_httpx_headers_case_insensitively() -> None:
    assert parse_retry_after(httpx.Headers({"Retry-After": "12"})) == 12.0


# --- each provider's bodies ----------------------------------------------------------------------


CASES = [
    # OpenAI
    (
        "openai-rate-limit",
        429,
        openai_error("Rate limit reached for requests.", "rate_limit_exceeded", "requests"),
        {"retry-after": "7"},
        ErrorKind.RATE_LIMITED,
        7.0,
    ),
    (
        "openai-rate-limit-try-again-in",
        429,
        openai_error("Rate limit reached on tokens per min (TPM). Please try again in 6ms.", "rate_limit_exceeded"),
        {},
        ErrorKind.RATE_LIMITED,
        0.006,
    ),
    (
        "openai-per-day-limit-mentions-billing",
        429,
        openai_error(
            "Rate limit reached on requests per day (RPD). Please try again in 7m12s. Add a payment method at /account/billing.",
            "rate_limit_exceeded",
        ),
        {},
        ErrorKind.RATE_LIMITED,
        432.0,
    ),
    (
        "openai-insufficient-quota",
        429,
        openai_error(
            "You exceeded your current quota, please check your plan and billing details.", "insufficient_quota", "insufficient_quota"
        ),
        {"retry-after": "20"},
        ErrorKind.QUOTA_EXHAUSTED,
        20.0,
    ),
    (
        "openai-context",
        400,
        openai_error(
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens.",
            "context_length_exceeded",
        ),
        {},
        ErrorKind.CONTEXT_TOO_LONG,
        None,
    ),
    ("openai-unauthorized", 401, openai_error("Incorrect API key provided.", "invalid_api_key"), {}, ErrorKind.AUTH, None),
    (
        "openai-forbidden",
        403,
        openai_error("Country, region, or territory not supported", "unsupported_country_region_territory", "request_forbidden"),
        {},
        ErrorKind.AUTH,
        None,
    ),
    ("openai-bad-request", 400, openai_error("Invalid value for 'temperature'.", None), {}, ErrorKind.BAD_REQUEST, None),
    ("openai-unknown-model", 404, openai_error("The model `gpt-9` does not exist.", "model_not_found"), {}, ErrorKind.BAD_REQUEST, None),
    ("openrouter-no-credits", 402, openai_error("Insufficient credits.", None), {}, ErrorKind.QUOTA_EXHAUSTED, None),
    ("openai-500", 500, openai_error("The server had an error.", None, "server_error"), {}, ErrorKind.UPSTREAM_5XX, None),
    (
        "openai-503",
        503,
        openai_error("The engine is currently overloaded.", None, "server_error"),
        {"retry-after": "2"},
        ErrorKind.UPSTREAM_5XX,
        2.0,
    ),
    (
        "llama-cpp-context",
        400,
        openai_error("the request exceeds the available context size, try increasing it", None, "exceed_context_size_error"),
        {},
        ErrorKind.CONTEXT_TOO_LONG,
        None,
    ),
    # Anthropic
    (
        "anthropic-rate-limit",
        429,
        anthropic_error("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
        {"retry-after": "3"},
        ErrorKind.RATE_LIMITED,
        3.0,
    ),
    (
        "anthropic-credit-balance",
        400,
        anthropic_error("invalid_request_error", "Your credit balance is too low to access the Anthropic API."),
        {},
        ErrorKind.QUOTA_EXHAUSTED,
        None,
    ),
    ("anthropic-billing-error", 402, anthropic_error("billing_error", "Payment required."), {}, ErrorKind.QUOTA_EXHAUSTED, None),
    (
        "anthropic-spend-limit",
        429,
        anthropic_error("rate_limit_error", "Monthly usage threshold crossed.", "enforced_spend_limit_reached"),
        {"retry-after": "60"},
        ErrorKind.QUOTA_EXHAUSTED,
        60.0,
    ),
    (
        "anthropic-ramp-limit",
        429,
        anthropic_error("rate_limit_error", "Usage is growing too fast.", "ramp_limit_exceeded"),
        {"retry-after": "5"},
        ErrorKind.RATE_LIMITED,
        5.0,
    ),
    (
        "anthropic-context",
        400,
        anthropic_error("invalid_request_error", "prompt is too long: 213513 tokens > 200000 maximum"),
        {},
        ErrorKind.CONTEXT_TOO_LONG,
        None,
    ),
    ("anthropic-unauthorized", 401, anthropic_error("authentication_error", "invalid x-api-key"), {}, ErrorKind.AUTH, None),
    ("anthropic-overloaded", 529, anthropic_error("overloaded_error", "Overloaded"), {}, ErrorKind.UPSTREAM_5XX, None),
    (
        "anthropic-body-too-large",
        413,
        anthropic_error("request_too_large", "Request exceeds the maximum allowed number of bytes."),
        {},
        ErrorKind.BAD_REQUEST,
        None,
    ),
    # Gemini
    (
        "gemini-rate-limit-retry-info",
        429,
        gemini_error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota. Please retry in 17.5s.",
            {"@type": RPC + "RetryInfo", "retryDelay": "17s"},
        ),
        {},
        ErrorKind.RATE_LIMITED,
        17.0,
    ),
    (
        "gemini-rate-limit-header",
        429,
        gemini_error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
        {"retry-after": "7"},
        ErrorKind.RATE_LIMITED,
        7.0,
    ),
    (
        "gemini-per-day-quota",
        429,
        gemini_error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota.",
            {"@type": RPC + "QuotaFailure", "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},
            {"@type": RPC + "RetryInfo", "retryDelay": "3600s"},
        ),
        {},
        ErrorKind.QUOTA_EXHAUSTED,
        3600.0,
    ),
    (
        "gemini-quota-text-no-hint",
        429,
        gemini_error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details."),
        {},
        ErrorKind.QUOTA_EXHAUSTED,
        None,
    ),
    ("gemini-bare-429", 429, gemini_error(429, "RESOURCE_EXHAUSTED", "Too many requests."), {}, ErrorKind.RATE_LIMITED, None),
    (
        "gemini-invalid-key-is-a-400",
        400,
        gemini_error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            {"@type": RPC + "ErrorInfo", "reason": "API_KEY_INVALID"},
        ),
        {},
        ErrorKind.AUTH,
        None,
    ),
    (
        "gemini-context",
        400,
        gemini_error(400, "INVALID_ARGUMENT", "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."),
        {},
        ErrorKind.CONTEXT_TOO_LONG,
        None,
    ),
    (
        "gemini-error-list",
        503,
        b"[" + gemini_error(503, "UNAVAILABLE", "The model is overloaded.") + b"]",
        {},
        ErrorKind.UPSTREAM_5XX,
        None,
    ),
    # Ollama
    ("ollama-402", 402, b'{"error": "you have reached your usage limit"}', {}, ErrorKind.QUOTA_EXHAUSTED, None),
    ("ollama-context", 400, b'{"error": "the input length exceeds the context length"}', {}, ErrorKind.CONTEXT_TOO_LONG, None),
    ("ollama-model-missing", 404, b'{"error": "model \\"llama9\\" not found, try pulling it first"}', {}, ErrorKind.BAD_REQUEST, None),
    ("ollama-busy", 503, b'{"error": "server busy, please try again."}', {}, ErrorKind.UPSTREAM_5XX, None),
    # Anything else
    ("html-bad-gateway", 502, b"<html><body>502 Bad Gateway</body></html>", {}, ErrorKind.UPSTREAM_5XX, None),
    ("unprocessable", 422, b'{"detail": "field required"}', {}, ErrorKind.BAD_REQUEST, None),
    ("request-timeout", 408, b"", {}, ErrorKind.TIMEOUT, None),
]


@pytest.mark.parametrize(("status", "body", "headers", "kind", "retry_after"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_classify_response(status: int, body: bytes, headers: dict[str, str], kind: ErrorKind, retry_after: float | None) -> None:
    error = classify_response(status, body, headers, SECRET)
    assert error.kind is kind
    assert error.status == status
    assert error.retry_after == pytest.approx(retry_after) if retry_after is not None else error.retry_after is None
    assert error.message


def test_message_is_the_providers_own_text() -> None:
    body = anthropic_error("invalid_request_error", "prompt is too long: 213513 tokens > 200000 maximum")
    assert classify_response(400, body, {}, SECRET).message == "prompt is too long: 213513 tokens > 200000 maximum"
    assert classify_response(502, b"<html>502 Bad Gateway</html>", {}, SECRET).message == "<html>502 Bad Gateway</html>"
    assert classify_response(500, b"", {}, SECRET).message == "HTTP 500 from upstream"


def test_the_secret_never_reaches_the_message() -> None:
    body = openai_error(f"Incorrect API key provided: {SECRET}. You can find your API key at platform.", "invalid_api_key")
    error = classify_response(401, body, {}, SECRET)
    assert error.kind is ErrorKind.AUTH
    assert SECRET not in error.message and SECRET not in repr(error) and SECRET not in str(error)
    assert "Incorrect API key provided" in error.message
    event = classify_event({"error": {"type": "api_error", "message": f"key {SECRET} broke"}}, SECRET)
    assert SECRET not in event.message


# --- errors inside a stream that answered 200 ----------------------------------------------------


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        ({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, ErrorKind.UPSTREAM_5XX),
        ({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}, ErrorKind.RATE_LIMITED),
        ({"error": {"message": "The server had an error.", "type": "server_error", "code": None}}, ErrorKind.UPSTREAM_5XX),
        (
            {"error": {"message": "maximum context length exceeded", "type": "invalid_request_error", "code": "context_length_exceeded"}},
            ErrorKind.CONTEXT_TOO_LONG,
        ),
        ({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}, ErrorKind.UPSTREAM_5XX),
        ({"error": "an error was encountered while running the model"}, ErrorKind.STREAM_BROKEN),
    ],
    ids=["anthropic-overloaded", "anthropic-rate-limit", "openai-server-error", "openai-context", "gemini-unavailable", "ollama-text"],
)
def test_classify_event(event: dict[str, object], kind: ErrorKind) -> None:
    error = classify_event(event, SECRET)
    assert error.kind is kind
    assert error.message


# --- below HTTP ----------------------------------------------------------------------------------


def test_transport_errors() -> None:
    assert transport_error(httpx.ReadTimeout("timed out"), SECRET).kind is ErrorKind.TIMEOUT
    assert transport_error(httpx.ConnectTimeout(""), SECRET).kind is ErrorKind.TIMEOUT
    assert transport_error(httpx.ConnectError("connection refused"), SECRET).kind is ErrorKind.CONNECTION
    assert transport_error(httpx.RemoteProtocolError("peer closed"), SECRET).kind is ErrorKind.CONNECTION
    broken = transport_error(httpx.RemoteProtocolError("peer closed"), SECRET, broken=True)
    assert broken.kind is ErrorKind.STREAM_BROKEN and "peer closed" in broken.message
    assert SECRET not in transport_error(httpx.ConnectError(f"bad url ?key={SECRET}"), SECRET).message

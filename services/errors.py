"""The small set of upstream failure kinds the router acts on."""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    RATE_LIMITED = "rate_limited"  # 429: cool the key down (Retry-After), try the next one
    AUTH = "auth"  # 401/403: the key is invalid until an admin or a passing test re-enables it
    QUOTA_EXHAUSTED = "quota_exhausted"  # 402 / insufficient_quota: out until its window resets
    BAD_REQUEST = "bad_request"  # 400/404/422: the client's fault, returned at once
    CONTEXT_TOO_LONG = "context_too_long"  # returned at once
    UPSTREAM_5XX = "upstream_5xx"  # 5xx / 529 overloaded: retry elsewhere
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    STREAM_BROKEN = "stream_broken"  # the stream ended with an error after it started


RETRYABLE = frozenset(
    {
        ErrorKind.RATE_LIMITED,
        ErrorKind.AUTH,
        ErrorKind.QUOTA_EXHAUSTED,
        ErrorKind.UPSTREAM_5XX,
        ErrorKind.TIMEOUT,
        ErrorKind.CONNECTION,
        ErrorKind.STREAM_BROKEN,
    }
)


class UpstreamError(Exception):
    """A classified failure of one upstream call. ``message`` is the provider's own text."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE

    def __repr__(self) -> str:
        return f"UpstreamError({self.kind.value}, status={self.status}, {self.message!r})"

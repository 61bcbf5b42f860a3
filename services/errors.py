"""Every exception the services raise on purpose, in one tree under ``HubError``.

```
HubError                       anything LLM Hub refuses or reports on purpose
├── UpstreamError              one upstream call failed; ``kind`` tells the router what to do
├── GatewayError               an answer for an API client, in OpenAI's error shape
├── RequestError               a management request that cannot be carried out (message, field, status)
│   ├── CatalogError           providers, keys, logical models
│   └── UserError              people and their gateway tokens
│       └── AccountError       sign-in, registration, invites, profile: worded for the person
│           └── SignInRefused  never tells whether an address has an account
├── ConfigError                a config file (ours or LiteLLM's) that cannot be applied
│   └── LiteLLMFormatError     not a LiteLLM config at all
├── UsageError                 a usage query, range or export that makes no sense
├── SettingError               a run-time setting value that cannot be accepted
├── CompareError               the compare page: comparisons, conversations, templates, votes
│   ├── ConversationNotFound
│   ├── TemplateError
│   └── TemplateNotAllowed
├── ClusterUnavailable         the shared state (Redis) did not answer; callers fall back to local state
└── StartupError               the process cannot start as configured
    ├── SecretKeyError         the encryption key is missing, malformed or does not fit the data
    └── SchemaTooNew           the database was written by a newer release
```

Callers catch the narrowest class they can act on; the API layer turns ``RequestError`` and
``GatewayError`` into answers, the console shows ``message``. ``ErrorKind`` is the small closed set
of upstream failure kinds the router acts on.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, ClassVar


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

TRANSIENT_FAILURES = frozenset({ErrorKind.UPSTREAM_5XX, ErrorKind.TIMEOUT, ErrorKind.CONNECTION, ErrorKind.STREAM_BROKEN})
"""Failures that say nothing about the key itself: the router backs off before the next attempt, and
they count toward the consecutive failures that open a circuit."""


class HubError(Exception):
    """The root: ``message`` is written for whoever made the request."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UpstreamError(HubError):
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
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE

    def __repr__(self) -> str:
        return f"UpstreamError({self.kind.value}, status={self.status}, {self.message!r})"


class GatewayError(HubError):
    """An answer for the client in OpenAI's error shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        retry_after: int | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.error_type = error_type
        self.retry_after = retry_after
        self.param = param
        self.attempts: list[dict[str, Any]] = []  # the router's trail up to this error (the console shows it; never in body())

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.error_type, "param": self.param, "code": self.code}}

    @classmethod
    def from_upstream(cls, error: UpstreamError) -> GatewayError:
        code = "context_length_exceeded" if error.kind is ErrorKind.CONTEXT_TOO_LONG else "upstream_bad_request"
        status = error.status if error.status and 400 <= error.status < 500 else 400
        return cls(status, code, error.message)


class RequestError(HubError):
    """A management request that cannot be carried out; ``field`` names the offending input and
    ``status`` its class (400 invalid, 404 not found, 409 conflict)."""

    CODES: ClassVar[Mapping[int, str]] = {400: "invalid_value", 404: "not_found", 409: "conflict"}

    def __init__(self, message: str, *, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status

    @property
    def code(self) -> str:
        return self.CODES.get(self.status, "invalid_value")


class CatalogError(RequestError):
    """Providers, keys and logical models."""


class UserError(RequestError):
    """A user or token request."""


class AccountError(UserError):
    """An account request; the message is written for the person."""


class SignInRefused(AccountError):
    """A refused sign-in. The message never tells whether an e-mail address has an account."""


class ConfigError(HubError):
    """The config file cannot be applied; the message is one line naming file, item and problem."""


class LiteLLMFormatError(ConfigError):
    """The file is not a LiteLLM config at all (no usable ``model_list``)."""


class UsageError(HubError):
    """A usage query that makes no sense (a range ending before it starts, an unknown sort or format)."""


class SettingError(HubError):
    """A setting value that cannot be accepted; the message says why."""


class CompareError(HubError):
    """Something the user asked for on the compare page cannot be done now; the message says why."""


class ConversationNotFound(CompareError):
    """No such saved conversation for this person (deleted, or someone else's)."""


class TemplateError(CompareError):
    """A template that cannot be saved or filled in; the message names the problem."""


class TemplateNotAllowed(CompareError):
    """A template that is not this person's to change."""


class ClusterUnavailable(HubError):
    """Redis, where instances share limits and spend, did not answer this time."""


class StartupError(HubError):
    """The process cannot start as configured; the message says what to fix."""


class SecretKeyError(StartupError):
    """The encryption key is missing, malformed, or cannot decrypt the stored secrets."""


class SchemaTooNew(StartupError):
    """The database was written by a newer release of LLM Hub."""

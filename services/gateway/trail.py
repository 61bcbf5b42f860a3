"""The attempt trail: what the router did for one request, line by line; it becomes part of the
usage record (and the Logs page's "why this route")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from services.gateway.plan import Candidate

Outcome = Literal["skipped", "failed", "served", "waiting"]


@dataclass(slots=True)
class Attempt:
    """One line of the attempt trail: a candidate skipped, failed or served."""

    provider: str
    model: str
    key_id: int | None
    key_label: str | None
    outcome: Outcome
    reason: str | None = None  # skip reason or error kind
    status: int | None = None
    error: str | None = None
    ms: float | None = None
    backoff_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """This line for the usage row, without its empty fields. Written out field by field rather than
        looping over ``fields()`` (or ``asdict``, which deep-copies): one runs on every request."""
        line: dict[str, Any] = {"provider": self.provider, "model": self.model}
        if self.key_id is not None:
            line["key_id"] = self.key_id
        if self.key_label is not None:
            line["key_label"] = self.key_label
        line["outcome"] = self.outcome
        if self.reason is not None:
            line["reason"] = self.reason
        if self.status is not None:
            line["status"] = self.status
        if self.error is not None:
            line["error"] = self.error
        if self.ms is not None:
            line["ms"] = self.ms
        if self.backoff_ms is not None:
            line["backoff_ms"] = self.backoff_ms
        return line


@dataclass(slots=True)
class RouteTrail:
    """What the router did for one request; it becomes part of the usage record."""

    attempts: list[Attempt] = field(default_factory=list)
    served: Candidate | None = None
    upstream_ms: float = 0.0  # awaited on the wire only (services.gateway.adapters.transport.WireTime)

    def add(
        self,
        candidate: Candidate,
        outcome: Outcome,
        *,
        reason: str | None = None,
        status: int | None = None,
        error: str | None = None,
        ms: float | None = None,
    ) -> Attempt:
        attempt = Attempt(
            candidate.route.provider.name, candidate.route.upstream_model,
            candidate.key.id, candidate.key.label, outcome, reason, status, error, ms,
        )
        self.attempts.append(attempt)
        return attempt

    def as_dicts(self) -> list[dict[str, Any]]:
        return [attempt.as_dict() for attempt in self.attempts]

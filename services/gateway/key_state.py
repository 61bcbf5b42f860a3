"""Health of keys, deployments and providers, kept in memory for the request path.

Providers meter and fail per model, so most of what a call teaches is kept per **deployment** (a key
serving one upstream model): a 429 cools that deployment down (``Retry-After``), and a run of
transient failures (5xx, timeouts, broken streams) rests it for the circuit's open period. The key's
other models keep serving.

What concerns a **key** as a whole stays on the key: ``invalid`` after 401/403, ``exhausted`` after a
provider quota error (until the next UTC midnight), an admin's cooldown, and the limits set on the
key (sliding one-minute rpm/tpm windows, day/month counters). Limits set on a **route** are counted
per (route, key), as a LiteLLM deployment's are.

A **provider's circuit** opens only for failures that are the provider's as a whole: consecutive
connection failures (refused, DNS, TLS), or a run of failures spanning several of its models. After
the open period one probe is let through (half-open); its result closes or re-opens it.

Changed entries are marked dirty and mirrored to the database by a periodic job, so state survives a
restart. With several instances (``services.cluster``), what a call or an admin *decides* about a key,
deployment or circuit (not the usage counted on every call) is also put in ``outbox`` for the cluster
to share; what the others decided arrives through ``apply_shared``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.clock import Clock, to_datetime, to_epoch, utcnow
from services.errors import TRANSIENT_FAILURES, ErrorKind, UpstreamError
from services.gateway.health import (
    KEY_LIMIT_REASONS,
    ROUTE_LIMIT_REASONS,
    Circuit,
    Deployment,
    DeploymentHealth,
    DeploymentStatus,
    KeyHealth,
    SkipReason,
    UsageWindow,
)
from services.gateway.routing_table import KeyEntry, RouteEntry
from services.tables import DeploymentState, KeyState, ProviderCircuit, RouteState

MAX_COOLDOWN_SECONDS = 3600.0  # a Retry-After beyond this is treated as a typo, not obeyed for days
MODELS_FOR_A_PROVIDER_FAULT = 2  # a failure run across this many models is the provider's, not one model's

SharedEntry = tuple[str, int] | tuple[str, Deployment]
"""An entry other instances must learn about: ("key", key id), ("deployment", deployment), ("circuit", provider id)."""


@dataclass(slots=True)
class StateRows:
    """The changed state, as rows for the mirror job."""

    keys: list[KeyState]
    deployments: list[DeploymentState]
    routes: list[RouteState]
    circuits: list[ProviderCircuit]

    def __bool__(self) -> bool:
        return bool(self.keys or self.deployments or self.routes or self.circuits)


def _next_utc_midnight(epoch: float) -> float:
    moment = datetime.fromtimestamp(epoch, UTC)
    return (moment.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)).timestamp()


class KeyStateStore:
    def __init__(
        self,
        clock: Clock,
        *,
        default_cooldown: float = 30.0,
        circuit_threshold: int = 5,
        circuit_open_seconds: float = 30.0,
    ) -> None:
        self.clock = clock
        self.default_cooldown = default_cooldown
        self.circuit_threshold = circuit_threshold
        self.circuit_open_seconds = circuit_open_seconds
        self.keys: dict[int, KeyHealth] = {}
        self.deployments: dict[Deployment, DeploymentHealth] = {}
        self.routes: dict[tuple[int, int], UsageWindow] = {}  # (route id, key id)
        self.circuits: dict[int, Circuit] = {}
        self.dirty_keys: set[int] = set()
        self.dirty_deployments: set[Deployment] = set()
        self.dirty_routes: set[tuple[int, int]] = set()
        self.dirty_circuits: set[int] = set()
        self.outbox: set[SharedEntry] | None = None  # None: nobody to share with (one instance)

    def _share(self, entry: SharedEntry) -> None:
        if self.outbox is not None:
            self.outbox.add(entry)

    def health(self, key_id: int) -> KeyHealth:
        health = self.keys.get(key_id)
        if health is None:
            health = self.keys[key_id] = KeyHealth()
        return health

    def deployment(self, deployment: Deployment) -> DeploymentHealth:
        health = self.deployments.get(deployment)
        if health is None:
            health = self.deployments[deployment] = DeploymentHealth()
        return health

    def circuit(self, provider_id: int) -> Circuit:
        circuit = self.circuits.get(provider_id)
        if circuit is None:
            circuit = self.circuits[provider_id] = Circuit()
        return circuit

    def _route_window(self, route_id: int, key_id: int) -> UsageWindow:
        window = self.routes.get((route_id, key_id))
        if window is None:
            window = self.routes[(route_id, key_id)] = UsageWindow()
        return window

    # -- decisions ---------------------------------------------------------------------------

    def skip_reason(self, key: KeyEntry, route: RouteEntry, deployment: Deployment, now: float) -> SkipReason | None:
        """Why this deployment may not take a request now, or None when it may."""
        if not key.enabled:
            return SkipReason.DISABLED
        health = self.keys.get(key.id)
        if health is not None:
            reason = self._key_reason(key, health, now)
            if reason is not None:
                return reason
        served = self.deployments.get(deployment)
        if served is not None:
            if now < served.cooldown_until:
                return SkipReason.COOLING
            if now < served.resting_until:
                return SkipReason.FAILING
        if route.id is not None and route.limits.any:
            window = self.routes.get((route.id, key.id))
            limit = window.over(route.limits, now) if window is not None else None
            if limit is not None:
                return ROUTE_LIMIT_REASONS[limit]
        return None

    def _key_reason(self, key: KeyEntry, health: KeyHealth, now: float) -> SkipReason | None:
        if health.disabled_reason == SkipReason.EXHAUSTED and health.exhausted_until and now >= health.exhausted_until:
            self._clear_disabled(key.id, health)
        if health.disabled_reason:
            return health.disabled_reason
        if now < health.cooldown_until:
            return SkipReason.COOLING
        if not key.limits.any:
            return None  # most keys have no limits: nothing to roll forward for them here
        limit = health.usage.over(key.limits, now)
        return None if limit is None else KEY_LIMIT_REASONS[limit]

    def recovery_time(self, key: KeyEntry, route: RouteEntry, deployment: Deployment, reason: SkipReason) -> float | None:
        """When a timed skip reason ends (epoch seconds), or None when it does not end by itself."""
        if reason is SkipReason.COOLING:
            served = self.deployments.get(deployment)
            return max(self.health(key.id).cooldown_until, served.cooldown_until if served else 0.0)
        if reason is SkipReason.FAILING:
            return self.deployment(deployment).resting_until
        if reason in (SkipReason.OVER_RPM, SkipReason.OVER_TPM):
            return self.health(key.id).usage.recovery(KEY_LIMIT_REASONS.index(reason))
        if reason in (SkipReason.ROUTE_OVER_RPM, SkipReason.ROUTE_OVER_TPM) and route.id is not None:
            return self._route_window(route.id, key.id).recovery(ROUTE_LIMIT_REASONS.index(reason))
        if reason is SkipReason.CIRCUIT_OPEN:
            return self.circuit(key.provider_id).open_until
        return None

    def circuit_allows(self, provider_id: int, now: float) -> bool:
        """Closed: yes. Open: no. Open period over: yes for exactly one probe at a time."""
        circuit = self.circuits.get(provider_id)
        if circuit is None or circuit.open_until == 0.0:
            return True
        if now < circuit.open_until or circuit.probe_in_flight:
            return False
        circuit.probe_in_flight = True
        return True

    # -- outcomes ----------------------------------------------------------------------------

    def note_request(self, key: KeyEntry, route: RouteEntry, now: float, prompt_tokens: Callable[[], int] = lambda: 0) -> None:
        """An attempt is admitted: it counts against rpm limits, and its estimated prompt against tpm limits
        (so calls admitted together see each other; ``note_usage`` adds the rest once it is known)."""
        route_limited = route.id is not None and route.limits.any
        held = prompt_tokens() if key.limits.tpm is not None or (route_limited and route.limits.tpm is not None) else 0
        if key.limits.rpm is not None:
            self.health(key.id).usage.requests.append(now)
        if key.limits.tpm is not None and held:
            self.health(key.id).usage.hold(held, now)
        if route.id is not None and route.limits.rpm is not None:
            self._route_window(route.id, key.id).requests.append(now)
        if route.id is not None and route.limits.tpm is not None and held:
            self._route_window(route.id, key.id).hold(held, now)

    def note_usage(self, key_id: int, route: RouteEntry, tokens: int, cost_micros: int | None, now: float, held: int = 0) -> None:
        """A call is metered; ``held`` is the prompt estimate ``note_request`` counted in the tpm windows
        (a key without a tpm limit never reads its minute's tokens)."""
        self.health(key_id).usage.add(tokens, cost_micros, now, held)
        self.dirty_keys.add(key_id)
        if route.id is not None and route.limits.any:
            self._route_window(route.id, key_id).add(tokens, cost_micros, now, held if route.limits.tpm is not None else 0)
            self.dirty_routes.add((route.id, key_id))

    def on_success(self, key: KeyEntry, deployment: Deployment) -> None:
        served = self.deployments.get(deployment)
        if served is not None and served.consecutive_failures:
            served.consecutive_failures = 0
            self.dirty_deployments.add(deployment)
            self._share(("deployment", deployment))
        circuit = self.circuits.get(key.provider_id)
        if circuit is not None and (circuit.consecutive_failures or circuit.probe_in_flight):
            self.circuits[key.provider_id] = Circuit()
            self.dirty_circuits.add(key.provider_id)
            self._share(("circuit", key.provider_id))

    def on_failure(self, key: KeyEntry, model: str, error: UpstreamError, now: float) -> None:
        """Learn from a failed call of ``model`` through ``key``. Caller errors teach nothing."""
        if error.kind in (ErrorKind.BAD_REQUEST, ErrorKind.CONTEXT_TOO_LONG):
            return
        message = f"{error.kind.value}: {error.message}"[:500]
        health = self.health(key.id)
        health.last_error, health.last_error_at = f"{model}: {message}"[:500], now
        self.dirty_keys.add(key.id)
        if error.kind is ErrorKind.AUTH:
            health.disabled_reason = SkipReason.INVALID
            self._share(("key", key.id))
        elif error.kind is ErrorKind.QUOTA_EXHAUSTED:
            health.disabled_reason = SkipReason.EXHAUSTED
            health.exhausted_until = _next_utc_midnight(now)
            self._share(("key", key.id))
        else:
            self._deployment_failed((key.id, model), error, message, now)
            if error.kind in TRANSIENT_FAILURES:
                self._count_provider_failure(key.provider_id, model, error.kind, now)

    def _deployment_failed(self, deployment: Deployment, error: UpstreamError, message: str, now: float) -> None:
        served = self.deployment(deployment)
        served.last_error, served.last_error_at = message, now
        if error.kind is ErrorKind.RATE_LIMITED:
            wait = min(error.retry_after if error.retry_after is not None else self.default_cooldown, MAX_COOLDOWN_SECONDS)
            served.cooldown_until = max(served.cooldown_until, now + wait)
        elif error.kind in TRANSIENT_FAILURES:
            served.consecutive_failures += 1
            if served.consecutive_failures >= self.circuit_threshold:
                served.resting_until = now + self.circuit_open_seconds
        self.dirty_deployments.add(deployment)
        self._share(("deployment", deployment))

    def _count_provider_failure(self, provider_id: int, model: str, kind: ErrorKind, now: float) -> None:
        circuit = self.circuit(provider_id)
        circuit.consecutive_failures += 1
        circuit.probe_in_flight = False
        circuit.failing_models.add(model)
        circuit.connection_failed |= kind is ErrorKind.CONNECTION
        whole_provider = circuit.connection_failed or len(circuit.failing_models) >= MODELS_FOR_A_PROVIDER_FAULT
        if circuit.consecutive_failures >= self.circuit_threshold and whole_provider:
            circuit.open_until = now + self.circuit_open_seconds
        self.dirty_circuits.add(provider_id)
        self._share(("circuit", provider_id))

    def release_probe(self, provider_id: int) -> None:
        """A half-open probe ended without a verdict (e.g. a client error): let another through."""
        circuit = self.circuits.get(provider_id)
        if circuit is not None:
            circuit.probe_in_flight = False

    # -- admin actions -----------------------------------------------------------------------

    def force_cooldown(self, key_id: int, seconds: float) -> None:
        health = self.health(key_id)
        health.cooldown_until = self.clock.now() + seconds
        self.dirty_keys.add(key_id)
        self._share(("key", key_id))

    def reset_key(self, key_id: int) -> None:
        """Clear the key's cooldown, invalid/exhausted marks and its deployments' cooldowns and failures
        (after an admin fix or a passing test)."""
        health = self.health(key_id)
        health.cooldown_until = 0.0
        self._clear_disabled(key_id, health)
        for deployment in [d for d in self.deployments if d[0] == key_id]:
            self.deployments[deployment] = DeploymentHealth()
            self.dirty_deployments.add(deployment)
            self._share(("deployment", deployment))

    def _clear_disabled(self, key_id: int, health: KeyHealth) -> None:
        health.disabled_reason = None
        health.exhausted_until = None
        self.dirty_keys.add(key_id)
        self._share(("key", key_id))

    def forget(self, key_ids: list[int], provider_id: int | None = None) -> None:
        """Drop the health of deleted keys (with their deployments and route counters) and a deleted
        provider's circuit."""
        gone = set(key_ids)
        for key_id in gone:
            self.keys.pop(key_id, None)
            self.dirty_keys.discard(key_id)
        for deployment in [d for d in self.deployments if d[0] in gone]:
            del self.deployments[deployment]
            self.dirty_deployments.discard(deployment)
        self._forget_route_windows(lambda route_id, key_id: key_id in gone)
        if provider_id is not None:
            self.circuits.pop(provider_id, None)
            self.dirty_circuits.discard(provider_id)

    def forget_routes(self, route_ids: set[int]) -> None:
        """Drop the counters of deleted routes."""
        self._forget_route_windows(lambda route_id, key_id: route_id in route_ids)

    def _forget_route_windows(self, gone: Callable[[int, int], bool]) -> None:
        for pair in [pair for pair in self.routes if gone(*pair)]:
            del self.routes[pair]
            self.dirty_routes.discard(pair)

    def clear_expired(self) -> int:
        """Scheduled job: drop cooldowns, rests, exhaustion and open circuits whose time has passed."""
        now = self.clock.now()
        cleared = 0
        for key_id, health in list(self.keys.items()):
            if health.cooldown_until and health.cooldown_until <= now:
                health.cooldown_until = 0.0
                self.dirty_keys.add(key_id)
                cleared += 1
            if health.exhausted_until and health.exhausted_until <= now:
                self._clear_disabled(key_id, health)
                cleared += 1
            health.usage.roll(now)
        for deployment, served in self.deployments.items():
            if (served.cooldown_until and served.cooldown_until <= now) or (served.resting_until and served.resting_until <= now):
                served.cooldown_until = served.cooldown_until if served.cooldown_until > now else 0.0
                served.resting_until = served.resting_until if served.resting_until > now else 0.0
                self.dirty_deployments.add(deployment)
                cleared += 1
        for window in self.routes.values():
            window.roll(now)
        return cleared

    # -- what the console shows --------------------------------------------------------------

    def status(self, key_id: int, now: float) -> str:
        """One word for the key as a whole: active, cooling (an admin's cooldown), exhausted, invalid."""
        health = self.keys.get(key_id)
        if health is None:
            return "active"
        if health.disabled_reason:
            return health.disabled_reason
        return "cooling" if now < health.cooldown_until else "active"

    def deployment_statuses(self, key_id: int, now: float) -> list[DeploymentStatus]:
        """The key's deployments the gateway knows something about, troubled ones first."""
        found = []
        for (owner, model), served in self.deployments.items():
            if owner != key_id:
                continue
            if now < served.cooldown_until:
                status, until = "cooling", served.cooldown_until
            elif now < served.resting_until:
                status, until = "failing", served.resting_until
            else:
                status, until = "active", None
            found.append(DeploymentStatus(model, status, until, served.consecutive_failures, served.last_error, served.last_error_at))
        return sorted(found, key=lambda d: (d.status == "active", d.model))

    # -- persistence -------------------------------------------------------------------------

    def load(self, rows: StateRows) -> None:
        for key_row in rows.keys:
            usage = UsageWindow(
                day=key_row.day or "", day_tokens=key_row.day_tokens,
                month=key_row.month or "", month_cost_micros=key_row.month_cost_micros,
            )
            self.keys[key_row.key_id] = KeyHealth(
                cooldown_until=to_epoch(key_row.cooldown_until) or 0.0,
                disabled_reason=SkipReason(key_row.disabled_reason) if key_row.disabled_reason else None,
                exhausted_until=to_epoch(key_row.exhausted_until),
                last_error=key_row.last_error,
                last_error_at=to_epoch(key_row.last_error_at),
                usage=usage,
            )
        for row in rows.deployments:
            self.deployments[(row.key_id, row.model)] = DeploymentHealth(
                cooldown_until=to_epoch(row.cooldown_until) or 0.0,
                resting_until=to_epoch(row.resting_until) or 0.0,
                consecutive_failures=row.consecutive_failures,
                last_error=row.last_error,
                last_error_at=to_epoch(row.last_error_at),
            )
        for route_row in rows.routes:
            self.routes[(route_row.route_id, route_row.key_id)] = UsageWindow(
                day=route_row.day or "", day_tokens=route_row.day_tokens,
                month=route_row.month or "", month_cost_micros=route_row.month_cost_micros,
            )
        for circuit_row in rows.circuits:
            self.circuits[circuit_row.provider_id] = Circuit(circuit_row.consecutive_failures, to_epoch(circuit_row.open_until) or 0.0)

    def take_dirty(self) -> StateRows:
        """Rows for every entry changed since the last call (the mirror job writes them)."""
        keys, self.dirty_keys = self.dirty_keys, set()
        deployments, self.dirty_deployments = self.dirty_deployments, set()
        routes, self.dirty_routes = self.dirty_routes, set()
        circuits, self.dirty_circuits = self.dirty_circuits, set()
        return StateRows(
            [self._key_row(k) for k in keys if k in self.keys],
            [self._deployment_row(d) for d in deployments if d in self.deployments],
            [self._route_row(r) for r in routes if r in self.routes],
            [self._circuit_row(p) for p in circuits if p in self.circuits],
        )

    def _key_row(self, key_id: int) -> KeyState:
        h = self.keys[key_id]
        return KeyState(
            key_id=key_id,
            cooldown_until=to_datetime(h.cooldown_until or None),
            disabled_reason=h.disabled_reason,
            exhausted_until=to_datetime(h.exhausted_until),
            last_error=h.last_error,
            last_error_at=to_datetime(h.last_error_at),
            day=h.usage.day or None,
            day_tokens=h.usage.day_tokens,
            month=h.usage.month or None,
            month_cost_micros=h.usage.month_cost_micros,
            updated_at=utcnow(),
        )

    def _deployment_row(self, deployment: Deployment) -> DeploymentState:
        served = self.deployments[deployment]
        return DeploymentState(
            key_id=deployment[0],
            model=deployment[1],
            cooldown_until=to_datetime(served.cooldown_until or None),
            resting_until=to_datetime(served.resting_until or None),
            consecutive_failures=served.consecutive_failures,
            last_error=served.last_error,
            last_error_at=to_datetime(served.last_error_at),
            updated_at=utcnow(),
        )

    def _route_row(self, pair: tuple[int, int]) -> RouteState:
        window = self.routes[pair]
        return RouteState(
            route_id=pair[0], key_id=pair[1], day=window.day or None, day_tokens=window.day_tokens,
            month=window.month or None, month_cost_micros=window.month_cost_micros, updated_at=utcnow(),
        )

    def _circuit_row(self, provider_id: int) -> ProviderCircuit:
        c = self.circuits[provider_id]
        return ProviderCircuit(
            provider_id=provider_id,
            consecutive_failures=c.consecutive_failures,
            open_until=to_datetime(c.open_until or None),
            updated_at=utcnow(),
        )

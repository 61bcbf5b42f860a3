"""Run-time settings of the usage features (AppSetting rows): retention, body logging, alerts.

Each change is validated here and written to the audit log. ``redact`` is the one function that
cleans a request or response body before it may be stored (body logging is off by default).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlparse

from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.accounts.audit import Actor, record_event
from services.clock import utcnow
from services.errors import SettingError
from services.tables import AppSetting

RETENTION_DAYS = "retention_days"
DEFAULT_RETENTION_DAYS = 90
MIN_RETENTION_DAYS = 31  # token budgets re-read this month's raw records after a restart
MAX_RETENTION_DAYS = 3650
LOG_BODIES = "log_bodies"
ALERTS = "alerts"
REDACTED = "[redacted]"
SECRET_FIELDS = frozenset({
    "api_key", "apikey", "api-key", "x-api-key", "x-goog-api-key", "authorization", "proxy-authorization", "password",
    "secret", "client_secret", "access_token", "refresh_token", "token", "cookie", "set-cookie",
})
SECRET_PATTERN = re.compile("|".join((  # one pass over each string: redaction runs on every logged body
    r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]+",
    r"\b(?:sk|rk|pk)-[A-Za-z0-9_-]{8,}",
    r"\bllmh-[A-Za-z0-9_-]{8,}",
    r"\bAIza[0-9A-Za-z_-]{20,}",
    r"\b(?:gsk|xai|ghp|hf)_[A-Za-z0-9]{16,}",
)))


_writes = 0
_announcers: list[Callable[[], None]] = []


def settings_writes() -> int:
    """How many settings or budget writes this process made or heard of: the hot path re-reads what it caches
    when this moves."""
    return _writes


def note_settings_write() -> None:
    """A settings or budget write here: counted, and told to the other instances of a cluster."""
    note_settings_write_elsewhere()
    for announce in _announcers:
        announce()


def note_settings_write_elsewhere() -> None:
    """Another instance wrote settings or budgets: what this one caches is re-read, as after its own write."""
    global _writes
    _writes += 1


def announce_settings_writes(announce: Callable[[], None]) -> Callable[[], None]:
    """Call ``announce`` after each settings write of this process (a cluster's feed); returns the undo."""
    _announcers.append(announce)
    return lambda: _announcers.remove(announce)


def _read(engine: Engine, key: str) -> Any:
    with Session(engine) as session:
        row = session.get(AppSetting, key)
        return None if row is None else row.value


def _write(engine: Engine, actor: Actor, key: str, value: Any) -> None:
    with Session(engine) as session:
        session.merge(AppSetting(key=key, value=value, updated_at=utcnow()))
        session.commit()
    note_settings_write()
    record_event(engine, actor, f"settings.{key}", key, {"value": value})


# -- retention -----------------------------------------------------------------------------------


def retention_days(engine: Engine) -> int:
    value = _read(engine, RETENTION_DAYS)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= MIN_RETENTION_DAYS else DEFAULT_RETENTION_DAYS


def checked_retention_days(days: int) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:
        raise SettingError(f"Keep raw records between {MIN_RETENTION_DAYS} and {MAX_RETENTION_DAYS} days.")
    return days


def set_retention_days(engine: Engine, actor: Actor, days: int) -> None:
    _write(engine, actor, RETENTION_DAYS, checked_retention_days(days))


# -- body logging --------------------------------------------------------------------------------


def body_logging(engine: Engine) -> bool:
    return _read(engine, LOG_BODIES) is True


def set_body_logging(engine: Engine, actor: Actor, enabled: bool) -> None:
    _write(engine, actor, LOG_BODIES, bool(enabled))


def redact(value: Any, known_secrets: re.Pattern[str] | None = None) -> Any:
    """A copy of a JSON body with secret-named fields blanked, secret-looking strings masked, and the
    values ``known_secrets`` matches (the hub's own keys, ``services.gateway.secret_values``) masked too."""
    if isinstance(value, dict):
        return {k: REDACTED if str(k).lower() in SECRET_FIELDS else redact(v, known_secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(item, known_secrets) for item in value]
    if isinstance(value, str):
        if known_secrets is not None:
            value = known_secrets.sub(REDACTED, value)
        value = SECRET_PATTERN.sub(REDACTED, value)
    return value


# -- alerts --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertSettings:
    levels: tuple[int, ...] = (80, 100)  # percent of a quota or budget
    error_rate_percent: float = 25.0  # a provider's failed share of upstream calls in the last hour
    error_min_calls: int = 20  # fewer calls than this in the hour never raise an error-rate alert
    webhook_url: str | None = None


def alert_settings(engine: Engine) -> AlertSettings:
    stored = _read(engine, ALERTS)
    if not isinstance(stored, dict):
        return AlertSettings()
    try:
        return checked_alert_settings(AlertSettings(
            levels=tuple(stored.get("levels", (80, 100))), error_rate_percent=float(stored.get("error_rate_percent", 25.0)),
            error_min_calls=int(stored.get("error_min_calls", 20)), webhook_url=stored.get("webhook_url"),
        ))
    except (SettingError, TypeError, ValueError):
        return AlertSettings()


def checked_alert_settings(settings: AlertSettings) -> AlertSettings:
    levels = tuple(sorted({int(level) for level in settings.levels}))
    if not levels or any(not 1 <= level <= 1000 for level in levels):
        raise SettingError("Alert levels are percentages between 1 and 1000, e.g. 80 and 100.")
    if not 0 < settings.error_rate_percent <= 100:
        raise SettingError("The error-rate level is a percentage above 0 and at most 100.")
    if settings.error_min_calls < 1:
        raise SettingError("The minimum number of calls must be at least 1.")
    url = (settings.webhook_url or "").strip() or None
    if url is not None:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise SettingError("The webhook URL must be an http:// or https:// address.")
    return AlertSettings(levels, float(settings.error_rate_percent), int(settings.error_min_calls), url)


def set_alert_settings(engine: Engine, actor: Actor, settings: AlertSettings) -> AlertSettings:
    checked = checked_alert_settings(settings)
    value = asdict(checked) | {"levels": list(checked.levels)}
    with Session(engine) as session:
        session.merge(AppSetting(key=ALERTS, value=value, updated_at=utcnow()))
        session.commit()
    shown = value | {"webhook_url": "set" if checked.webhook_url else None}  # the URL may carry a token: not in the audit log
    record_event(engine, actor, f"settings.{ALERTS}", ALERTS, shown)
    return checked

"""A logical model's routes as stored and as answered: the bridge between ``RouteIn`` (what the API,
the console and the config file send), ``ModelRoute`` rows, and ``RoutePublic`` (what is answered).

A route's extra headers may carry credentials, so they are stored encrypted and answered masked,
like a key's secret. Saving a model's route list updates the routes it already has in place (a
route keeps its id, and with it its limit counters) and adds or deletes only the difference.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson
from sqlmodel import Session, col, delete, select

from services.catalog.inputs import RouteIn, micros_to_usd, usd_to_micros
from services.catalog.views import RoutePublic
from services.crypto import SecretBox, mask_secret
from services.tables import ModelAlias, ModelRoute, RouteState

RouteIdentity = tuple[int, str, tuple[str, ...], tuple[str, ...], bool]
"""What tells two routes of a model apart: provider, upstream model, keys, tags, context fallback."""


def route_values(route: RouteIn, provider_id: int) -> dict[str, Any]:
    """The row's column values for a route (headers apart: they are encrypted, see ``headers_of``)."""
    return {
        "provider_id": provider_id,
        "upstream_model": route.model,
        "priority": route.priority,
        "weight": route.weight,
        "keys": list(route.keys) if route.keys is not None else None,
        "rpm": route.rpm,
        "tpm": route.tpm,
        "daily_tokens": route.daily_tokens,
        "monthly_usd_micros": usd_to_micros(route.monthly_usd),
        "price": {"input": str(route.price.input), "output": str(route.price.output)} if route.price else None,
        "params": dict(route.params) if route.params else None,
        "tags": sorted(route.tags) if route.tags else None,
        "context_fallback": route.context_fallback,
        "context_window": route.context_window,
    }


def identity_of(values: Mapping[str, Any]) -> RouteIdentity:
    return (
        values["provider_id"], values["upstream_model"], tuple(values["keys"] or ()), tuple(values["tags"] or ()),
        bool(values["context_fallback"]),
    )


def row_identity(row: ModelRoute) -> RouteIdentity:
    return (row.provider_id, row.upstream_model, tuple(row.keys or ()), tuple(row.tags or ()), row.context_fallback)


def headers_of(row: ModelRoute, box: SecretBox) -> dict[str, str] | None:
    return orjson.loads(box.decrypt(row.headers_enc)) if row.headers_enc else None


def encrypted_headers(headers: Mapping[str, str] | None, box: SecretBox) -> str | None:
    return box.encrypt(orjson.dumps(dict(headers)).decode()) if headers else None


def route_public(row: ModelRoute, provider_name: str, box: SecretBox) -> RoutePublic:
    headers = headers_of(row, box)
    price = row.price
    return RoutePublic(
        provider=provider_name, model=row.upstream_model, priority=row.priority, weight=row.weight,
        keys=row.keys, rpm=row.rpm, tpm=row.tpm, daily_tokens=row.daily_tokens, monthly_usd=micros_to_usd(row.monthly_usd_micros),
        price={"input": Decimal(price["input"]), "output": Decimal(price["output"])} if price else None,
        params=row.params, headers={name: mask_secret(value) for name, value in headers.items()} if headers else None,
        tags=row.tags, context_fallback=row.context_fallback, context_window=row.context_window,
    )


WantedRoute = tuple[dict[str, Any], Mapping[str, str] | None]
"""A route to save: its column values and its extra headers (stored encrypted)."""


def save_routes(session: Session, box: SecretBox, model_id: int, wanted: list[WantedRoute]) -> tuple[bool, set[int]]:
    """Give a model exactly the ``wanted`` routes (column values and extra headers, in the order to keep):
    routes it has are updated in place, the rest added or deleted. Whether anything changed, and the
    ids of the deleted routes."""
    current = list(session.exec(select(ModelRoute).where(ModelRoute.model_id == model_id).order_by(col(ModelRoute.id))))
    unused = {row.id: row for row in current}
    changed = False
    for values, headers in wanted:
        row = next((r for r in unused.values() if row_identity(r) == identity_of(values)), None)
        if row is None:
            row = ModelRoute(model_id=model_id, **values, headers_enc=encrypted_headers(headers, box))
            session.add(row)
            changed = True
            continue
        del unused[row.id]
        changed |= _update_route(row, values, headers, box)
    for row in unused.values():
        session.exec(delete(RouteState).where(col(RouteState.route_id) == row.id))
        session.delete(row)
    session.flush()
    return changed or bool(unused), {row_id for row_id in unused if row_id is not None}


def _update_route(row: ModelRoute, values: Mapping[str, Any], headers: Mapping[str, str] | None, box: SecretBox) -> bool:
    changed = {name: value for name, value in values.items() if getattr(row, name) != value}
    for name, value in changed.items():
        setattr(row, name, value)
    if headers_of(row, box) != (dict(headers) if headers else None):
        row.headers_enc = encrypted_headers(headers, box)
        return True
    return bool(changed)


def save_aliases(session: Session, model_id: int, aliases: list[str]) -> bool:
    """Give a model exactly these aliases; whether they changed."""
    current = {a.name: a for a in session.exec(select(ModelAlias).where(ModelAlias.model_id == model_id))}
    if set(current) == set(aliases):
        return False
    for name, alias in current.items():
        if name not in aliases:
            session.delete(alias)
    session.add_all(ModelAlias(name=name, model_id=model_id) for name in aliases if name not in current)
    session.flush()
    return True


def aliases_of(session: Session, model_id: int) -> list[str]:
    return sorted(a.name for a in session.exec(select(ModelAlias).where(ModelAlias.model_id == model_id)))


def rename_key_in_routes(session: Session, provider_id: int, old: str, new: str) -> None:
    """A key renamed: the routes that list it by label follow."""
    for row in session.exec(select(ModelRoute).where(ModelRoute.provider_id == provider_id)):
        if row.keys and old in row.keys:
            row.keys = [new if label == old else label for label in row.keys]

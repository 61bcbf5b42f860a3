"""Typed FastAPI dependencies shared by the gateway and management routers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import orjson
from fastapi import Depends, Path, Query, Request
from fastapi.responses import Response

from app.runtime import get_hub
from services.accounts.audit import Actor
from services.accounts.tokens import Principal
from services.db import MAX_ROW_ID
from services.errors import GatewayError
from services.hub import Hub

PathId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
"""An id in a path: out of range it names nothing (404, ``app.api.errors``) and never reaches the database driver."""
QueryId = Annotated[int | None, Query(ge=0, le=MAX_ROW_ID)]


async def hub_dependency() -> Hub:
    """``async`` because FastAPI runs a plain ``def`` dependency in its thread pool: a thread hop per
    request for a global read."""
    return get_hub()


HubDep = Annotated[Hub, Depends(hub_dependency)]


def bearer_token(headers: Mapping[str, str]) -> str | None:
    header = headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None
    return headers.get("x-api-key")


async def current_principal(request: Request, hub: HubDep) -> Principal:
    """On the event loop: a known token is a dictionary lookup; only a token never seen before costs
    one indexed SQLite read."""
    return hub.tokens.authenticate(bearer_token(request.headers))


async def admin_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_admin:
        raise GatewayError(403, "admin_only", "This endpoint needs an admin token.", error_type="permission_error")
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]
AdminDep = Annotated[Principal, Depends(admin_principal)]


def admin_actor(hub: HubDep, admin: AdminDep, request: Request) -> Actor:
    """The audit actor behind an admin call: the master key or the token's owner, and the caller's
    address. Plain ``def``: naming a user is a database read, done in FastAPI's thread pool."""
    return hub.accounts.api_actor(admin, request.client.host if request.client else None)


ActorDep = Annotated[Actor, Depends(admin_actor)]


def caller_actor(hub: HubDep, principal: PrincipalDep, request: Request) -> Actor:
    """The same for any caller, admin or not (a vote is anyone's to cast)."""
    return hub.accounts.api_actor(principal, request.client.host if request.client else None)


CallerDep = Annotated[Actor, Depends(caller_actor)]


def json_response(content: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json", headers=headers)


def error_response(error: GatewayError, headers: dict[str, str] | None = None) -> Response:
    extra = dict(headers or {})
    if error.retry_after is not None:
        extra["retry-after"] = str(error.retry_after)
    return json_response(error.body(), error.status, extra)

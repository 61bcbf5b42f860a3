"""People and their gateway tokens under ``/api`` (admin only).

Handlers are thin: they hand validated bodies and the acting admin to ``services.accounts`` (the
same calls the console makes, which write, audit and refresh the token registry) and return public
shapes; a raw token appears once, in the answer that issued it.
"""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import ActorDep, AdminDep, HubDep, PathId, QueryId
from services.accounts.gateway_tokens import TokenCreate, TokenCreated, TokenPublic, TokenUpdate
from services.accounts.users import UserCreate, UserPublic

router = APIRouter(prefix="/api")


# -- gateway tokens ----------------------------------------------------------------------------


@router.get("/tokens", tags=["tokens"], summary="List gateway tokens (last four characters only)")
def get_tokens(hub: HubDep, _: AdminDep, user_id: QueryId = None, user_email: str | None = None) -> list[TokenPublic]:
    return hub.gateway_tokens.list_tokens(user_id=user_id, user_email=user_email)


@router.post("/tokens", tags=["tokens"], status_code=201, summary="Issue a token; the raw token is in this answer only")
def post_token(hub: HubDep, actor: ActorDep, body: TokenCreate) -> TokenCreated:
    return hub.gateway_tokens.issue(actor, body)


@router.patch("/tokens/{token_id}", tags=["tokens"], summary="Change a token's name, budget, rpm, allowed models or expiry")
def patch_token(hub: HubDep, actor: ActorDep, token_id: PathId, body: TokenUpdate) -> TokenPublic:
    return hub.gateway_tokens.update(actor, token_id, body)


@router.delete("/tokens/{token_id}", tags=["tokens"], summary="Revoke a token (it stays listed, marked revoked)")
def delete_token(hub: HubDep, actor: ActorDep, token_id: PathId) -> TokenPublic:
    return hub.gateway_tokens.revoke(actor, token_id)


# -- users -------------------------------------------------------------------------------------


@router.get("/users", tags=["users"], summary="List users")
def get_users(hub: HubDep, _: AdminDep) -> list[UserPublic]:
    return hub.accounts.list_users()


@router.post("/users", tags=["users"], status_code=201, summary="Create a user with a password")
def post_user(hub: HubDep, actor: ActorDep, body: UserCreate) -> UserPublic:
    password = body.password.get_secret_value()
    return hub.accounts.create_user(actor, email=body.email, name=body.name, role=body.role, password=password)

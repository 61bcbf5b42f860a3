"""The response cache's admin API under ``/api/cache``: purge a model's entries, a token's, or all."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.api.deps import ActorDep, HubDep

router = APIRouter(prefix="/api/cache", tags=["cache"])


class CachePurge(BaseModel):
    """What to purge: exactly one of a logical model's entries, a gateway token's, or all."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, min_length=1, max_length=200, description="a logical model: every entry stored for it")
    token_id: int | None = Field(None, ge=1, description="a gateway token: every entry its calls stored")
    all: bool = Field(False, description="every entry")

    @model_validator(mode="after")
    def _one_target(self) -> CachePurge:
        if sum((self.model is not None, self.token_id is not None, self.all)) != 1:
            raise ValueError("give exactly one of `model`, `token_id` or `all: true`")
        return self


class Purged(BaseModel):
    purged: int = Field(description="entries deleted")


@router.post("/purge", summary="Delete response cache entries: a model's, a token's, or all (audited)")
async def purge(hub: HubDep, actor: ActorDep, body: CachePurge) -> Purged:
    return Purged(purged=await hub.cache.purge(actor, model=body.model, token_id=body.token_id))

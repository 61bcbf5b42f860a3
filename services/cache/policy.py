"""A logical model's response cache settings, as the YAML config, ``PATCH /api/models/{name}`` and the
Models page give them: ``cache: true`` (an exact cache with the defaults) or a mapping of the fields
of ``CacheSettings``; ``false`` or nothing turns it off.

Scope is the privacy line: by default an entry is found only by the gateway token whose call stored
it; a model's admin may widen that to every token of the same person, or to everyone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CacheScope = Literal["token", "person", "everyone"]
CACHE_SCOPES: tuple[CacheScope, ...] = ("token", "person", "everyone")


class CacheSettings(BaseModel):
    """How one logical model caches its answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    semantic: bool = Field(False, description="also answer a near-duplicate last user turn (cosine similarity ≥ threshold) "
                                              "when the rest of the conversation is the same")
    threshold: float = Field(0.92, ge=0.5, le=1.0, description="the semantic cache's least cosine similarity")
    ttl_seconds: int = Field(3600, ge=1, le=365 * 86400, description="how long an answer is served from the cache")
    scope: CacheScope = Field("token", description="who finds an entry: the token that stored it, every token of its "
                                                   "owner (person), or everyone")
    only_deterministic: bool = Field(True, description="cache only calls whose temperature is 0 or left out")
    max_entries: int | None = Field(None, ge=1, description="entries kept for the model (the oldest go first)")
    max_bytes: int | None = Field(None, ge=1024, description="stored answer bytes kept for the model (the oldest go first)")
    embedding_model: str | None = Field(None, max_length=200, description="the model behind this hub that embeds last user "
                                        "turns for the semantic cache, or `local`: all-MiniLM-L6-v2 in this process (the `semantic` extra)")


CacheInput = bool | CacheSettings | None


def settings_of(value: CacheInput | Mapping[str, Any]) -> CacheSettings | None:
    """The settings a config value stands for: ``true`` the defaults, ``false``/null none."""
    if value is None or value is False:
        return None
    if value is True:
        return CacheSettings()
    if isinstance(value, CacheSettings):
        return value
    return CacheSettings.model_validate(value)


def stored_form(value: CacheInput) -> dict[str, Any] | None:
    """What ``LogicalModel.cache`` holds for a config value (every field spelled out), or None."""
    settings = settings_of(value)
    return settings.model_dump() if settings is not None else None

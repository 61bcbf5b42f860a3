"""Context windows and image support of known upstream models (``data/context_windows.json``).

A logical model may route to several upstream models, and failover can land on any of them, so
its limit is the smallest known limit among its routes, and it is "known not to take images" as
soon as one of its routes is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DEFAULT_LIMITS_FILE = Path(__file__).resolve().parents[2] / "data" / "context_windows.json"


@dataclass(frozen=True, slots=True)
class UpstreamLimits:
    context: int | None
    vision: bool | None


@dataclass(frozen=True, slots=True)
class ModelLimits:
    """What the compare page tells the user about a requested model name."""

    context: int | None  # None: unknown limit
    no_images_reason: str | None  # set when some route is known not to take images


class LimitTable:
    def __init__(self, models: dict[str, UpstreamLimits]) -> None:
        self._models = models

    @classmethod
    def load(cls, path: Path = DEFAULT_LIMITS_FILE) -> LimitTable:
        raw = json.loads(path.read_text())["models"]
        return cls({name: UpstreamLimits(entry.get("context"), entry.get("vision")) for name, entry in raw.items()})

    def upstream(self, model: str) -> UpstreamLimits | None:
        """Exact name first, else the longest known prefix (dated snapshots match their family)."""
        if model in self._models:
            return self._models[model]
        prefixes = [name for name in self._models if model.startswith(name)]
        return self._models[max(prefixes, key=len)] if prefixes else None

    def for_routes(self, upstream_models: Iterable[str]) -> ModelLimits:
        """The limits of a requested model from the upstream models its routes call."""
        contexts: list[int] = []
        no_images: str | None = None
        for model in upstream_models:
            known = self.upstream(model)
            if known is None:
                continue
            if known.context:
                contexts.append(known.context)
            if known.vision is False and no_images is None:
                no_images = f"{model} does not accept images"
        return ModelLimits(min(contexts) if contexts else None, no_images)


@lru_cache(maxsize=1)
def default_limits() -> LimitTable:
    return LimitTable.load()

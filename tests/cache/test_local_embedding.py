"""The semantic cache's local embedding model (the optional ``semantic`` extra): questions that mean
the same are near, others are not. Skipped where the extra is not installed."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from services.cache.local_model import PACKAGE, LocalEmbedder

pytestmark = pytest.mark.skipif(importlib.util.find_spec(PACKAGE) is None or importlib.util.find_spec("torch") is None,
                                reason="the semantic extra (pip install -e '.[semantic]') is not installed")


async def test_the_packaged_model_embeds_offline_and_means_something() -> None:
    embedder = LocalEmbedder()
    assert await embedder.embed("warming up") is None, "the request path never waits for the model to load"
    assert await embedder.loaded()
    france, paraphrase, bread = [await embedder.embed(text) for text in (
        "What is the capital of France?", "Which city is the capital of France?", "How do I bake sourdough bread?")]
    assert france is not None and paraphrase is not None and bread is not None
    assert france.shape == (384,) and abs(float(np.linalg.norm(france)) - 1) < 1e-5
    assert float(france @ paraphrase) > 0.85 > 0.3 > float(france @ bread)

"""The response cache's Prometheus counters: lookups that hit and missed, and the cost hits saved, per
logical model (``/metrics``). Counted as lookups happen (a few dictionary updates, no lock: the event
loop is the only writer) and turned into metric families when Prometheus scrapes."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, Metric

from services.cache.store import CachedAnswer
from services.gateway.metrics import REGISTRY


class CacheStats:
    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.misses: dict[str, int] = {}
        self.saved_micros: dict[str, int] = {}

    def looked_up(self, model: str, found: CachedAnswer | None) -> None:
        if found is None:
            self.misses[model] = self.misses.get(model, 0) + 1
            return
        self.hits[model] = self.hits.get(model, 0) + 1
        self.saved_micros[model] = self.saved_micros.get(model, 0) + (found.cost_micros or 0)

    def collect(self) -> Iterator[Metric]:
        hits = CounterMetricFamily("llmhub_cache_hits", "Calls answered from the response cache.", labels=["model"])
        misses = CounterMetricFamily("llmhub_cache_misses", "Cache lookups that found nothing (the call went upstream).",
                                     labels=["model"])
        saved = CounterMetricFamily("llmhub_cache_saved_usd", "What the calls answered from the cache would have cost, in US dollars.",
                                    labels=["model"])
        for model, count in list(self.hits.items()):
            hits.add_metric([model], count)
            saved.add_metric([model], self.saved_micros.get(model, 0) / 1_000_000)
        for model, count in list(self.misses.items()):
            misses.add_metric([model], count)
        yield from (hits, misses, saved)


CACHE_STATS = CacheStats()
REGISTRY.register(CACHE_STATS)

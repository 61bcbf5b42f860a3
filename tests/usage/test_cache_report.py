"""The Usage page's cache figures and the records' cache filter, on both databases."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from services.usage.cache_report import cache_report
from services.usage.queries import ADMIN, UsageFilter, Viewer, list_usage
from tests.factories import NOW, add_people, fresh_engine, usage_row, write_rows


def test_hit_rate_and_saved_cost_follow_the_filters_and_the_viewer(tmp_path: Path) -> None:
    engine = fresh_engine(tmp_path)
    people = add_people(engine)
    hit = {"cache_hit": True, "cost_micros": 0, "cost_saved_micros": 700, "provider_name": None, "attempts": []}
    write_rows(engine, [
        usage_row(user_id=people["ann"]), usage_row(user_id=people["ann"], **hit), usage_row(user_id=people["ann"], **hit),
        usage_row(user_id=people["bob"]), usage_row(user_id=people["bob"], requested_model="other", **hit),
        usage_row(user_id=people["bob"], created_at=NOW - timedelta(days=3), **hit),
    ])
    since, until = NOW - timedelta(hours=1), NOW + timedelta(hours=1)
    everyone = cache_report(engine, UsageFilter(), ADMIN, since, until)
    assert (everyone.requests, everyone.hits, everyone.saved_micros) == (5, 3, 2100) and everyone.hit_rate == 0.6
    bob = cache_report(engine, UsageFilter(), Viewer(people["bob"], False), since, until)
    assert (bob.requests, bob.hits, bob.saved_micros) == (2, 1, 700)
    smart = cache_report(engine, UsageFilter(model="smart"), ADMIN, since, until)
    assert (smart.requests, smart.hits) == (4, 2)
    assert cache_report(engine, UsageFilter(), ADMIN, until, until + timedelta(hours=1)).hit_rate is None
    hits = list_usage(engine, UsageFilter(cache_hit=True), viewer=ADMIN)
    others = list_usage(engine, UsageFilter(cache_hit=False), viewer=ADMIN)
    assert len(hits) == 4 and all(r["cache_hit"] and r["cost_saved_micros"] == 700 for r in hits)
    assert len(others) == 2 and not any(r["cache_hit"] for r in others)

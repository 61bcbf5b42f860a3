"""Deciding routes with evidence, over real HTTP against a running LLM Hub and the upstream emulator:
the routing what-if, the failover tax, why a call took its route, and the leaderboard with votes from
a script."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import MASTER_KEY, RunningApp
from tests.factories import TokenHolder, hub_process, user_with_token, wait_for_usage
from tests.upstream_emulator import EmulatorHandle

CONFIG = """
providers:
  - name: flaky
    kind: openai
    base_url: {url}/v1
    keys:
      - label: limited
        secret: rate-limit:60#evidence-1
  - name: emu
    kind: openai
    base_url: {url}/v1
    keys:
      - label: primary
        secret: ok#evidence-2
        rpm: 1
      - label: spare
        secret: ok#evidence-3
        priority: 2
models:
  - name: smart
    routes:
      - provider: flaky
        model: gpt-4o
        priority: 1
      - provider: emu
        model: gpt-4o
        priority: 2
  - name: fast
    routes:
      - provider: emu
        model: gpt-4o-mini
"""


@pytest.fixture(scope="module")
def running(emulator: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningApp, TokenHolder]]:
    """A hub with three calls to `smart` behind it (the first fails over from the rate-limited key, the
    others find it cooling) and one user."""
    with hub_process(tmp_path_factory.mktemp("evidence"), CONFIG, emulator) as app:
        user = user_with_token(app, "val@example.com", "val-password-1", "val-harness")
        with app.sdk() as sdk:
            for text in ("one", "two words", "three more words"):
                sdk.chat.completions.create(model="smart", messages=[{"role": "user", "content": text}])
        wait_for_usage(app, count=3)
        yield app, user


def test_why_this_route_lists_every_candidate(running: tuple[RunningApp, TokenHolder]) -> None:
    app, _ = running
    with app.client() as admin:
        first = admin.get("/api/usage", params={"limit": 10}).json()["data"][-1]
        detail = admin.get(f"/api/usage/{first['id']}").json()
    lines = [(c["provider"], c["key"], c["outcome"], c["reason"]) for c in detail["candidates"]]
    assert lines[0] == ("flaky", "limited", "failed", "rate_limited")
    assert lines[1:] == [("emu", "primary", "served", None), ("emu", "spare", "not_reached", "lower_key_priority")]
    assert all(isinstance(c["cost_usd"], float) for c in detail["candidates"])  # gpt-4o is in the price table


def test_what_if_replays_the_calls_against_a_proposal(running: tuple[RunningApp, TokenHolder]) -> None:
    app, user = running
    proposal = {"model": "smart", "routes": [{"provider": "emu", "model": "gpt-4o-mini", "keys": ["primary"], "rpm": 1}]}
    with app.client() as admin:
        answer = admin.post("/api/routing/what-if", json=proposal)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["requests"] == 3 and body["model"] == "smart"
        assert body["baseline"]["failovers"] == 3  # the first call failed over, the next two skipped the cooling key
        assert isinstance(body["baseline"]["cost_usd"], float) and body["baseline"]["cost_usd"] > 0
        # one key at 1 rpm for three calls within a minute: one served, two answered 429
        assert (body["proposed"]["rate_limited"], body["by_route"][0]["requests"]) == (2, 1)
        assert body["delta_cost_usd"] == pytest.approx(body["proposed"]["cost_usd"] - body["baseline"]["cost_usd"], abs=1e-6)
        assert len(body["daily"]) == 31 and set(body["daily"][-1]) == {"day", "baseline_usd", "proposed_usd"}

        unknown = admin.post("/api/routing/what-if", json={"model": "smart", "routes": [{"provider": "nope", "model": "x"}]})
        assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "routes[0].provider"
        missing = admin.post("/api/routing/what-if", json={"model": "nothing", "routes": [{"provider": "emu", "model": "x"}]})
        assert missing.status_code == 404 and missing.json()["error"]["param"] == "model"
        backwards = admin.post("/api/routing/what-if", json={**proposal, "since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"})
        assert backwards.status_code == 400 and "until" in backwards.json()["error"]["message"]
        empty = admin.post("/api/routing/what-if", json={**proposal, "since": "2020-01-01T00:00:00Z", "until": "2020-01-02T00:00:00Z"})
        assert empty.json()["requests"] == 0 and empty.json()["proposed"]["p50_ms"] is None
    with app.client(user.token) as client:
        refused = client.post("/api/routing/what-if", json=proposal)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "admin_only"


def test_failover_tax_by_provider_and_key(running: tuple[RunningApp, TokenHolder]) -> None:
    app, user = running
    with app.client() as admin:
        tax = admin.get("/api/usage/failover", params={"range": "24h"}).json()
    assert (tax["requests"], tax["affected_requests"], tax["extra_calls"]) == (3, 3, 1)
    limited = next(entry for entry in tax["by_key"] if entry["key"] == "limited")
    assert limited["failed"] == {"rate_limited": 1} and limited["skipped"] == {"cooling": 2}
    pools = {pool["provider"]: pool for pool in tax["pools"]}
    assert pools["flaky"]["rate_limited"] == 1 and "add a key or shift weight" in pools["flaky"]["hint"]
    assert pools["emu"]["limits"]["rpm"] is None  # the spare key has no limit: the pool has none
    with app.client(user.token) as client:
        assert client.get("/api/usage/failover").status_code == 403


def test_votes_from_a_script_and_the_leaderboard(running: tuple[RunningApp, TokenHolder]) -> None:
    app, user = running
    with app.client(user.token) as harness:
        for winner in ("a", "a", "tie", "b"):
            cast = harness.post("/api/leaderboard/votes", json={"model_a": "smart", "model_b": "fast", "winner": winner, "template": "qa"})
            assert cast.status_code == 201 and cast.json()["winner"] == winner
        bad = harness.post("/api/leaderboard/votes", json={"model_a": "smart", "model_b": "ghost", "winner": "a"})
        assert bad.status_code == 400 and bad.json()["error"] == {
            "message": "The model `ghost` does not exist.", "type": "invalid_request_error", "param": "model_b", "code": "model_not_found"}
        same = harness.post("/api/leaderboard/votes", json={"model_a": "smart", "model_b": "smart", "winner": "a"})
        assert same.status_code == 400 and same.json()["error"]["code"] == "invalid_vote"
        odd = harness.post("/api/leaderboard/votes", json={"model_a": "smart", "model_b": "fast", "winner": "both"})
        assert odd.status_code == 400 and odd.json()["error"]["param"] == "winner"
        board = harness.get("/api/leaderboard").json()
    with app.client(MASTER_KEY) as admin:
        assert admin.post("/api/leaderboard/votes", json={"model_a": "fast", "model_b": "smart", "winner": "b"}).status_code == 201
        everything = admin.get("/api/leaderboard").json()
        only_qa = admin.get("/api/leaderboard", params={"template": "qa"}).json()
    rows = {row["model"]: row for row in board["data"]}
    assert set(rows["smart"]) == {"model", "rating", "ci_low", "ci_high", "votes", "wins", "losses", "ties", "median_cost_usd",
                                  "median_latency_ms"}
    assert (rows["smart"]["wins"], rows["smart"]["losses"], rows["smart"]["ties"], rows["smart"]["votes"]) == (2, 1, 1, 4)
    assert rows["smart"]["rating"] > rows["fast"]["rating"] and rows["smart"]["ci_low"] is None  # too few votes for an interval
    assert isinstance(rows["smart"]["median_cost_usd"], float) and rows["fast"]["median_cost_usd"] is None  # fast never answered
    assert board["templates"] == ["qa"] and board["position_bias"]["decisive_votes"] == 3
    assert everything["votes"] == 5 and only_qa["votes"] == 4 and only_qa["template"] == "qa"

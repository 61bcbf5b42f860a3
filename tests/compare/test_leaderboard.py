"""The leaderboard: Bradley–Terry against a fit known in closed form, bootstrap intervals that narrow
as votes grow, the position-bias check on biased and fair vote sets, votes stored with who cast them
and their template, and the median cost and latency per answer read from usage."""

from __future__ import annotations

import math
import random
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from services.accounts.audit import MASTER_KEY_ACTOR, Actor
from services.compare.bradley_terry import Game, binomial_two_sided, fit, position_bias
from services.compare.leaderboard import (
    MIN_VOTES,
    Standing,
    Vote,
    best_value,
    cast_vote,
    leaderboard,
    load_votes,
    standings_of,
    vote_templates,
)
from services.compare.tables import BlindVote
from services.errors import CompareError
from tests.factories import NOW, fresh_engine, usage_row, write_rows

ANN = Actor(7, "ann@example.com")
POINTS_PER_DOUBLING = 400 * math.log10(2)  # two models at 2:1 odds are this far apart


def games(a: str, b: str, a_wins: int, b_wins: int, ties: int = 0) -> list[Game]:
    return [Game(a, b, "a")] * a_wins + [Game(a, b, "b")] * b_wins + [Game(a, b, "tie")] * ties


# Strengths 4 : 2 : 1, votes exactly in the expected proportions: the maximum-likelihood fit is those strengths.
PROPORTIONAL = games("A", "B", 200, 100) + games("B", "C", 200, 100) + games("C", "A", 100, 400)


def test_the_fit_recovers_strengths_that_the_votes_follow_exactly() -> None:
    exact = fit(PROPORTIONAL, prior=0, rounds=0).ratings
    assert exact["A"] - exact["B"] == pytest.approx(POINTS_PER_DOUBLING, abs=1e-6)
    assert exact["B"] - exact["C"] == pytest.approx(POINTS_PER_DOUBLING, abs=1e-6)
    assert sum(exact.values()) / 3 == pytest.approx(1000.0)
    with_prior = fit(PROPORTIONAL, rounds=0).ratings  # the default: one virtual tie per model
    assert with_prior["A"] - with_prior["C"] == pytest.approx(2 * POINTS_PER_DOUBLING, abs=0.5)


def test_ties_count_half_a_win_for_each_side() -> None:
    assert fit(games("A", "B", 0, 0, ties=5), rounds=0).ratings == {"A": pytest.approx(1000.0), "B": pytest.approx(1000.0)}
    # 3 wins, 1 loss and 2 ties is 4 of 6: the same odds as 2 wins to 1 loss.
    with_ties = fit(games("A", "B", 3, 1, ties=2), prior=0, rounds=0).ratings
    assert with_ties["A"] - with_ties["B"] == pytest.approx(POINTS_PER_DOUBLING, abs=1e-6)


def test_an_undefeated_model_gets_a_finite_rating_that_grows_with_its_wins() -> None:
    few = fit(games("A", "B", 3, 0), rounds=0).ratings
    many = fit(games("A", "B", 30, 0), rounds=0).ratings
    assert math.isfinite(few["A"]) and 1000 < few["A"] < many["A"] < 2500
    assert few["A"] + few["B"] == pytest.approx(2000.0)


def sampled_votes(count: int, rng: random.Random) -> list[Game]:
    """Votes drawn from strengths 4 : 2 : 1 over random pairs, the left side chosen at random."""
    strength = {"A": 4.0, "B": 2.0, "C": 1.0}
    drawn = []
    for _ in range(count):
        left, right = rng.sample(sorted(strength), 2)
        drawn.append(Game(left, right, "a" if rng.random() < strength[left] / (strength[left] + strength[right]) else "b"))
    return drawn


def test_intervals_narrow_as_votes_grow_and_hold_the_truth() -> None:
    rng = random.Random(5)
    small, large = fit(sampled_votes(60, rng)), fit(sampled_votes(3000, rng))
    width = {name: {m: high - low for m, (low, high) in f.intervals.items()} for name, f in (("small", small), ("large", large))}
    for model in "ABC":
        assert width["large"][model] < width["small"][model] / 3  # about √50 ≈ 7 times narrower
        low, high = large.intervals[model]
        assert low <= large.ratings[model] <= high
    truth = {"A": 1000 + POINTS_PER_DOUBLING, "B": 1000.0, "C": 1000 - POINTS_PER_DOUBLING}
    for model, rating in truth.items():
        low, high = large.intervals[model]
        assert low <= rating <= high
    assert fit(sampled_votes(60, random.Random(9))).intervals == fit(sampled_votes(60, random.Random(9))).intervals  # seeded


def test_position_bias_is_found_on_a_biased_set_and_not_on_a_fair_one() -> None:
    rng = random.Random(11)
    biased = ["a" if rng.random() < 0.7 else "b" for _ in range(400)] + ["tie"] * 50
    found = position_bias(biased)
    assert found.decisive == 400 and found.biased and found.p_value is not None and found.p_value < 1e-6
    assert found.left_share == pytest.approx(found.left_wins / 400) and found.left_share > 0.6
    fair = position_bias(["a", "b"] * 200)
    assert not fair.biased and fair.p_value == pytest.approx(1.0)
    assert binomial_two_sided(9, 10) == pytest.approx(2 * 11 / 1024)  # P(9 or 10 heads) + P(0 or 1)
    assert position_bias(["tie", "both_bad"]).p_value is None


def test_models_with_too_few_votes_have_no_interval() -> None:
    t = NOW
    votes = [Vote("A", "B", "a" if i % 3 else "b", t) for i in range(30)] + [Vote("A", "C", "a", t), Vote("C", "B", "both_bad", t)]
    rows = {s.model: s for s in standings_of(votes)}
    assert rows["A"].votes == 31 and rows["C"].votes == 2 < MIN_VOTES
    assert rows["C"].too_few_votes and rows["C"].ci_low is None and rows["C"].ci_high is None
    assert rows["A"].ci_low is not None and rows["A"].ci_low < rows["A"].rating < (rows["A"].ci_high or 0)
    assert (rows["C"].wins, rows["C"].losses, rows["C"].ties, rows["C"].both_bad) == (0, 1, 0, 1)


def test_best_value_is_the_cheapest_model_level_with_the_leader() -> None:
    def row(model: str, rating: float, interval: tuple[float, float] | None, cost: float | None) -> Standing:
        low, high = interval or (None, None)
        return Standing(model, rating, low, high, median_cost_micros=cost)

    leader, level, cheap_but_worse = row("A", 1200, (1150, 1250), 900), row("B", 1120, (1060, 1160), 300), row("C", 900, (850, 950), 10)
    unrated = row("D", 1300, None, 1)  # too few votes: no interval, never the pick
    assert best_value([unrated, leader, level, cheap_but_worse]) == "B"
    assert best_value([leader, row("B", 1120, (1060, 1160), None), cheap_but_worse]) == "A"  # B's cost unknown: the leader itself
    assert best_value([unrated]) is None and best_value([]) is None


def test_votes_are_stored_with_who_cast_them_and_their_template(tmp_path: Path) -> None:
    engine = fresh_engine(tmp_path)
    cast_vote(engine, ANN, "alpha", "beta", "a", template="Code review")
    cast_vote(engine, MASTER_KEY_ACTOR, " beta ", "gamma", "tie")
    cast_vote(engine, ANN, "alpha", "gamma", "b", template="Code review")
    for bad in (("alpha", "alpha", "a"), ("alpha", "beta", "maybe"), ("", "beta", "a")):
        with pytest.raises(CompareError):
            cast_vote(engine, ANN, *bad)
    with Session(engine) as session:
        rows = session.exec(select(BlindVote).order_by(col(BlindVote.id))).all()
    assert [(r.user_id, r.model_a, r.model_b, r.outcome, r.template) for r in rows] == [
        (7, "alpha", "beta", "a", "Code review"), (None, "beta", "gamma", "tie", None), (7, "alpha", "gamma", "b", "Code review"),
    ]
    assert [v.model_b for v in load_votes(engine, template="Code review")] == ["beta", "gamma"]
    assert vote_templates(engine) == ["Code review"]
    assert load_votes(engine, since=NOW.replace(year=2099)) == []


def test_the_table_carries_median_cost_and_latency_per_answer(tmp_path: Path) -> None:
    engine = fresh_engine(tmp_path)
    write_rows(engine, [
        usage_row(requested_model="alpha", cost_micros=cost, latency_ms=ms) for cost, ms in ((100, 300.0), (300, 100.0), (200, 900.0))
    ] + [
        usage_row(requested_model="beta", cost_micros=cost, latency_ms=ms) for cost, ms in ((10, 50.0), (30, 70.0))
    ] + [
        usage_row(requested_model="beta", cost_micros=999_999, latency_ms=1.0, status="error"),  # failed answers are not answers
        usage_row(requested_model="alpha", cost_micros=1, latency_ms=1.0, created_at=NOW - timedelta(days=40)),  # too old
    ])
    cast_vote(engine, ANN, "alpha", "beta", "a", template="t")
    cast_vote(engine, ANN, "beta", "gamma", "b")
    board = leaderboard(engine, now=NOW + timedelta(hours=1))
    rows = {s.model: s for s in board.standings}
    assert (rows["alpha"].median_cost_micros, rows["alpha"].median_latency_ms) == (200.0, 300.0)
    assert (rows["beta"].median_cost_micros, rows["beta"].median_latency_ms) == (20.0, 60.0)  # an even count: the middle two
    assert (rows["gamma"].median_cost_micros, rows["gamma"].median_latency_ms) == (None, None)
    assert board.votes == 2 and board.templates == ["t"] and board.position_bias.decisive == 2
    only_t = leaderboard(engine, template="t", now=NOW)
    assert [s.model for s in only_t.standings] == ["alpha", "beta"] and only_t.template == "t"

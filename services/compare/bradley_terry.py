"""Bradley–Terry ratings from pairwise votes, bootstrap confidence intervals, and a position-bias check.

The model: model *i* beats model *j* with probability ``1 / (1 + exp(θj − θi))``. A tie counts as
half a win for each side (Chatbot Arena's convention), so every vote is one game for each of its
two models and no vote is thrown away.

The fit maximises the log-likelihood of all votes plus a small prior: every model also plays
``PRIOR_GAMES`` virtual ties against a fixed anchor at θ = 0. Without it, a model that never lost
would have an infinite rating, and two models that never met would have no relative rating at all;
with it, a model with few votes is pulled toward the middle, and with hundreds of votes the prior
moves a rating by a fraction of a point. The penalised likelihood is strictly concave, so Newton's
method from θ = 0 finds its single maximum in a handful of steps.

Ratings are on the familiar Elo scale: ``1000 + 400·log10(e)·θ`` with θ centred on the models'
mean, so 400 points between two models means 10:1 odds.

Confidence intervals come from the bootstrap: the votes are resampled with replacement (a seeded
generator, so the same votes always give the same intervals), refitted, and the 2.5th and 97.5th
percentiles of each model's rating are its 95 % interval. A resample draws each distinct
(pair, outcome) with multinomial counts, which is the same as drawing votes one by one, at a cost
that does not grow with the number of votes; all resamples are fitted together, as one batch of
small linear systems.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

PRIOR_GAMES = 1.0
SCALE = 400.0 / math.log(10.0)
CENTRE = 1000.0
BOOTSTRAP_ROUNDS = 1000
SEED = 18
MAX_NEWTON_STEPS = 60
MAX_STEP = 4.0  # a Newton step larger than this (in θ) is shortened: safety for nearly separated data
TOLERANCE = 1e-9
OUTCOME_SCORE = {"a": 1.0, "b": 0.0, "tie": 0.5}
Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Game:
    """One vote as a game: ``model_a`` was shown on the left; ``outcome`` is "a", "b" or "tie"."""

    model_a: str
    model_b: str
    outcome: str


@dataclass(frozen=True, slots=True)
class Fit:
    """Ratings by model, with 95 % bootstrap intervals (None where not computed)."""

    ratings: dict[str, float]
    intervals: dict[str, tuple[float, float]]


@dataclass(frozen=True, slots=True)
class Tally:
    """The distinct (left model, right model, outcome) triples of a set of votes and how often each
    occurred, and the pair of models (lower index first) each triple is a game of."""

    models: tuple[str, ...]
    counts: Floats  # per triple, the triples ordered by pair
    lower_score: Floats  # per triple: the score of the pair's first model in that outcome (1, 0 or ½)
    pair_starts: Ints  # per pair: the index of its first triple
    pairs: Ints  # pairs × 2: the two models' indices, lower first

    @classmethod
    def of(cls, games: Iterable[Game]) -> Tally:
        index: dict[str, int] = {}
        seen: dict[tuple[int, int, float], int] = {}
        for game in games:
            if game.model_a == game.model_b or game.outcome not in OUTCOME_SCORE:
                continue
            key = (index.setdefault(game.model_a, len(index)), index.setdefault(game.model_b, len(index)), OUTCOME_SCORE[game.outcome])
            seen[key] = seen.get(key, 0) + 1
        triples = sorted(seen, key=lambda t: (min(t[0], t[1]), max(t[0], t[1])))
        pairs: list[tuple[int, int]] = []
        starts: list[int] = []
        for position, (left, right, _) in enumerate(triples):
            pair = (min(left, right), max(left, right))
            if not pairs or pairs[-1] != pair:
                pairs.append(pair)
                starts.append(position)
        return cls(
            tuple(index),
            np.array([seen[t] for t in triples], dtype=np.float64),
            np.array([score if left < right else 1.0 - score for left, right, score in triples], dtype=np.float64),
            np.array(starts, dtype=np.int64),
            np.array(pairs, dtype=np.int64).reshape(-1, 2),
        )

    def per_pair(self, counts: Floats) -> tuple[Floats, Floats]:
        """Games and the first model's score per pair, for each row of ``counts`` (batch × triples)."""
        return np.add.reduceat(counts, self.pair_starts, axis=1), np.add.reduceat(counts * self.lower_score, self.pair_starts, axis=1)


def fit_theta(tally: Tally, counts: Floats, prior: float = PRIOR_GAMES, start: Floats | None = None) -> Floats:
    """The maximum of the penalised log-likelihood for each row of ``counts`` (batch × triples).

    Returns θ per row and model (batch × models), starting from ``start`` (θ = 0 by default). ``prior``
    0 gives the plain maximum-likelihood fit, which exists only when every model has both won and lost
    within a connected set of games.
    """
    m = len(tally.models)
    games, wins = tally.per_pair(counts)
    incidence = np.zeros((len(tally.pairs), m))
    incidence[np.arange(len(tally.pairs)), tally.pairs[:, 0]] = 1.0
    incidence[np.arange(len(tally.pairs)), tally.pairs[:, 1]] = -1.0
    theta = np.zeros((counts.shape[0], m)) if start is None else np.repeat(start[None, :], counts.shape[0], axis=0)
    first, second = tally.pairs[:, 0], tally.pairs[:, 1]
    ridge = np.eye(m) * (1e-12 if prior == 0 else 0.0)
    for _ in range(MAX_NEWTON_STEPS):
        p = _sigmoid(theta[:, first] - theta[:, second])  # P(the pair's first model wins), batch × pairs
        gradient = (wins - games * p) @ incidence
        weights = games * p * (1.0 - p)
        hessian = _diagonal(weights @ np.abs(incidence))  # the negative Hessian: a weighted graph Laplacian
        hessian[:, first, second] = -weights
        hessian[:, second, first] = -weights
        if prior:
            q = _sigmoid(theta)
            gradient += prior * (0.5 - q)
            hessian += prior * _diagonal(q * (1.0 - q))
        step = np.linalg.solve(hessian + ridge, gradient[..., None])[..., 0]
        largest = np.abs(step).max(axis=1, keepdims=True)
        step *= np.minimum(1.0, MAX_STEP / np.maximum(largest, 1e-300))
        theta += step
        if float(np.abs(step).max()) < TOLERANCE:
            break
    return theta


def ratings_of(theta: Floats) -> Floats:
    """θ (… × models) on the Elo scale, centred on each row's mean."""
    centred: Floats = theta - theta.mean(axis=-1, keepdims=True)
    return CENTRE + SCALE * centred


def fit(games: Iterable[Game], *, rounds: int = BOOTSTRAP_ROUNDS, seed: int = SEED, prior: float = PRIOR_GAMES) -> Fit:
    """Ratings of every model in ``games``, with bootstrap intervals (``rounds`` 0: none)."""
    tally = Tally.of(games)
    if not tally.models:
        return Fit({}, {})
    theta = fit_theta(tally, tally.counts[None, :], prior)
    point = ratings_of(theta)[0]
    ratings = {model: float(point[i]) for i, model in enumerate(tally.models)}
    if rounds <= 0:
        return Fit(ratings, {})
    rng = np.random.default_rng(seed)
    total = int(tally.counts.sum())
    resampled = rng.multinomial(total, tally.counts / total, size=rounds).astype(np.float64)
    spread = ratings_of(fit_theta(tally, resampled, prior, start=theta[0]))
    low, high = np.percentile(spread, [2.5, 97.5], axis=0)
    intervals = {model: (float(low[i]), float(high[i])) for i, model in enumerate(tally.models)}
    return Fit(ratings, intervals)


def _sigmoid(x: Floats) -> Floats:
    result: Floats = 1.0 / (1.0 + np.exp(-x))
    return result


def _diagonal(values: Floats) -> Floats:
    """A batch of diagonal matrices (batch × m × m) from a batch of diagonals (batch × m)."""
    return values[:, :, None] * np.eye(values.shape[1])[None]


# -- the position-bias check ---------------------------------------------------------------------


SIGNIFICANCE = 0.05


@dataclass(frozen=True, slots=True)
class PositionBias:
    """Does the left column (model A) win more, or less, often than chance among decisive votes?"""

    decisive: int  # votes with a winner (ties left out)
    left_wins: int
    p_value: float | None  # exact two-sided binomial test against ½; None without decisive votes

    @property
    def left_share(self) -> float | None:
        return self.left_wins / self.decisive if self.decisive else None

    @property
    def biased(self) -> bool:
        return self.p_value is not None and self.p_value < SIGNIFICANCE


def position_bias(outcomes: Sequence[str]) -> PositionBias:
    """The check over vote outcomes ("a" is a left win, "b" a right win, anything else is no winner)."""
    left = sum(1 for outcome in outcomes if outcome == "a")
    decisive = left + sum(1 for outcome in outcomes if outcome == "b")
    return PositionBias(decisive, left, binomial_two_sided(left, decisive) if decisive else None)


def binomial_two_sided(k: int, n: int) -> float:
    """P(a result at least as far from n/2 as k) for n fair coin flips: the exact two-sided p-value."""
    tail = min(k, n - k)
    log_factorials = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, n + 1, dtype=np.float64)))))
    x = np.arange(0, tail + 1)
    log_pmf = log_factorials[n] - log_factorials[x] - log_factorials[n - x] - n * math.log(2.0)
    return float(min(1.0, 2.0 * np.exp(log_pmf).sum()))

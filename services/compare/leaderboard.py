"""Blind-mode votes and the leaderboard computed from them.

Elo: every model starts at 1000; votes are replayed in time order with K = 32. "A better" scores
A 1 and B 0, "tie" 0.5 each. "Both bad" also counts as a tie for Elo: neither model beat the other,
and it is a real comparison of the two, so leaving it out would hide how often a model is part of
a failed pair. It is counted separately in the table. Win rate is wins / games, every vote being
one game for each of its two models.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from services.compare.tables import BlindVote
from services.db import session_scope
from services.errors import CompareError

START_RATING = 1000.0
K_FACTOR = 32.0
OUTCOME_SCORE = {"a": 1.0, "b": 0.0, "tie": 0.5, "both_bad": 0.5}


@dataclass(frozen=True, slots=True)
class Vote:
    model_a: str
    model_b: str
    outcome: str  # "a" | "b" | "tie" | "both_bad"
    created_at: datetime


@dataclass(slots=True)
class Standing:
    model: str
    rating: float = START_RATING
    wins: int = 0
    losses: int = 0
    ties: int = 0
    both_bad: int = 0

    @property
    def games(self) -> int:
        return self.wins + self.losses + self.ties + self.both_bad

    @property
    def win_rate(self) -> float:
        return self.wins / self.games if self.games else 0.0


def expected_score(rating: float, opponent: float) -> float:
    return 1.0 / (1.0 + 10 ** ((opponent - rating) / 400.0))


def leaderboard(votes: Iterable[Vote]) -> list[Standing]:
    """Standings by rating (highest first); the votes are sorted by time before replaying."""
    table: dict[str, Standing] = {}
    for vote in sorted(votes, key=lambda v: v.created_at):
        if vote.model_a == vote.model_b or vote.outcome not in OUTCOME_SCORE:
            continue
        a = table.setdefault(vote.model_a, Standing(vote.model_a))
        b = table.setdefault(vote.model_b, Standing(vote.model_b))
        _count(a, b, vote.outcome)
        score = OUTCOME_SCORE[vote.outcome]
        expected = expected_score(a.rating, b.rating)
        a.rating += K_FACTOR * (score - expected)
        b.rating -= K_FACTOR * (score - expected)
    return sorted(table.values(), key=lambda s: (-s.rating, s.model))


def _count(a: Standing, b: Standing, outcome: str) -> None:
    if outcome == "a":
        a.wins, b.losses = a.wins + 1, b.losses + 1
    elif outcome == "b":
        b.wins, a.losses = b.wins + 1, a.losses + 1
    elif outcome == "tie":
        a.ties, b.ties = a.ties + 1, b.ties + 1
    else:
        a.both_bad, b.both_bad = a.both_bad + 1, b.both_bad + 1


def record_vote(engine: Engine, user_id: int, model_a: str, model_b: str, outcome: str) -> None:
    if outcome not in OUTCOME_SCORE:
        raise CompareError(f"unknown vote outcome {outcome!r}")
    with session_scope(engine) as session:
        session.add(BlindVote(user_id=user_id, model_a=model_a, model_b=model_b, outcome=outcome))


def load_votes(engine: Engine, *, since: datetime | None = None, until: datetime | None = None) -> list[Vote]:
    """Votes with ``since <= created_at < until``, oldest first."""
    query = select(BlindVote)
    if since is not None:
        query = query.where(col(BlindVote.created_at) >= since)
    if until is not None:
        query = query.where(col(BlindVote.created_at) < until)
    with Session(engine) as session:
        rows = session.exec(query.order_by(col(BlindVote.created_at), col(BlindVote.id))).all()
    return [Vote(r.model_a, r.model_b, r.outcome, r.created_at) for r in rows]


def standings(engine: Engine, *, since: datetime | None = None, until: datetime | None = None) -> list[Standing]:
    return leaderboard(load_votes(engine, since=since, until=until))

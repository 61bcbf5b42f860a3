"""Votes on pairs of answers, and the leaderboard fitted on them.

A vote comes from a blind comparison in the console or from a script (``POST /api/leaderboard/votes``,
an evaluation harness); both go through ``cast_vote``, which stores who cast it (the vote row is the
record of it: a harness may post thousands, so they are not written to the audit log too).

The table: Bradley–Terry ratings fitted on all the votes at once (``services.compare.bradley_terry``;
a tie, and "both bad", count half a win for each side), a 95 % bootstrap interval for every model
with at least ``MIN_VOTES`` votes (fewer: no interval, the row is marked "too few votes"), and each
model's median cost and latency per answer over the last ``MEDIAN_DAYS`` days of usage, so quality
per dollar can be read off one row (``best_value`` names the cheapest model statistically level with
the leader). Votes made from a prompt template carry its name, and the table
can be fitted on one template's votes alone. The position-bias check asks whether the left column
(model A) wins more often than chance; a blind comparison puts each model left at random, so a
bias there is the voters', not the models'.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from services.accounts.audit import Actor
from services.clock import utcnow
from services.compare.bradley_terry import BOOTSTRAP_ROUNDS, Game, PositionBias, fit, position_bias
from services.compare.tables import BlindVote
from services.db import session_scope
from services.errors import CompareError
from services.usage.queries import answer_medians

OUTCOMES = ("a", "b", "tie", "both_bad")
MIN_VOTES = 10
MEDIAN_DAYS = 30
NAME_LIMIT = 200


@dataclass(frozen=True, slots=True)
class Vote:
    model_a: str  # shown on the left
    model_b: str
    outcome: str  # "a" | "b" | "tie" | "both_bad"
    created_at: datetime
    template: str | None = None

    def game(self) -> Game:
        return Game(self.model_a, self.model_b, "tie" if self.outcome == "both_bad" else self.outcome)


@dataclass(slots=True)
class Standing:
    """One model's row of the leaderboard."""

    model: str
    rating: float = 1000.0
    ci_low: float | None = None  # None while the model has fewer than MIN_VOTES votes
    ci_high: float | None = None
    wins: int = 0
    losses: int = 0
    ties: int = 0
    both_bad: int = 0  # a tie too, counted apart
    median_cost_micros: float | None = None
    median_latency_ms: float | None = None

    @property
    def votes(self) -> int:
        return self.wins + self.losses + self.ties + self.both_bad

    @property
    def too_few_votes(self) -> bool:
        return self.votes < MIN_VOTES

    @property
    def win_rate(self) -> float:
        return self.wins / self.votes if self.votes else 0.0


@dataclass(frozen=True, slots=True)
class Leaderboard:
    standings: list[Standing]
    position_bias: PositionBias
    votes: int
    template: str | None = None  # the table is fitted on this template's votes only
    templates: list[str] = field(default_factory=list)  # every template that has votes


# -- casting and reading votes ---------------------------------------------------------------------


def cast_vote(engine: Engine, actor: Actor, model_a: str, model_b: str, outcome: str, template: str | None = None) -> Vote:
    """Store one vote by ``actor`` (a person, or the master key); model A is the one shown on the left."""
    model_a, model_b = model_a.strip(), model_b.strip()
    template = template.strip() if template else None
    if outcome not in OUTCOMES:
        raise CompareError(f"Unknown vote outcome `{outcome}`: one of {', '.join(OUTCOMES)}.")
    if not model_a or not model_b or max(len(model_a), len(model_b)) > NAME_LIMIT:
        raise CompareError(f"Both model names are needed, each at most {NAME_LIMIT} characters.")
    if model_a == model_b:
        raise CompareError("A vote compares two different models.")
    if template is not None and len(template) > NAME_LIMIT:
        raise CompareError(f"A template name has at most {NAME_LIMIT} characters.")
    row = BlindVote(user_id=actor.id, model_a=model_a, model_b=model_b, outcome=outcome, template=template, created_at=utcnow())
    with session_scope(engine) as session:
        session.add(row)
    return Vote(model_a, model_b, outcome, row.created_at, template)


def load_votes(
    engine: Engine, *, template: str | None = None, since: datetime | None = None, until: datetime | None = None,
) -> list[Vote]:
    """Votes with ``since <= created_at < until`` (of one template, if given), oldest first."""
    query = select(BlindVote)
    if template is not None:
        query = query.where(col(BlindVote.template) == template)
    if since is not None:
        query = query.where(col(BlindVote.created_at) >= since)
    if until is not None:
        query = query.where(col(BlindVote.created_at) < until)
    with Session(engine) as session:
        rows = session.exec(query.order_by(col(BlindVote.created_at), col(BlindVote.id))).all()
    return [Vote(r.model_a, r.model_b, r.outcome, r.created_at, r.template) for r in rows]


def vote_templates(engine: Engine) -> list[str]:
    """The templates that votes were made from, most voted first."""
    query = (select(BlindVote.template, func.count()).where(col(BlindVote.template).is_not(None))
             .group_by(col(BlindVote.template)).order_by(func.count().desc(), col(BlindVote.template)))
    with Session(engine) as session:
        return [name for name, _ in session.exec(query) if name is not None]


# -- the table -------------------------------------------------------------------------------------


def standings_of(votes: Sequence[Vote], *, rounds: int = BOOTSTRAP_ROUNDS) -> list[Standing]:
    """Every voted model's record and rating, best first; intervals only for models with enough votes."""
    table: dict[str, Standing] = {}
    for vote in votes:
        if vote.model_a == vote.model_b or vote.outcome not in OUTCOMES:
            continue
        _count(table.setdefault(vote.model_a, Standing(vote.model_a)), table.setdefault(vote.model_b, Standing(vote.model_b)), vote.outcome)
    fitted = fit((vote.game() for vote in votes), rounds=rounds)
    for standing in table.values():
        standing.rating = fitted.ratings.get(standing.model, standing.rating)
        interval = fitted.intervals.get(standing.model)
        if interval is not None and not standing.too_few_votes:
            standing.ci_low, standing.ci_high = interval
    return sorted(table.values(), key=lambda s: (-s.rating, s.model))


def best_value(board: Sequence[Standing]) -> str | None:
    """Quality per dollar in one name: the model with the cheapest median answer among those that cannot be
    told apart from the leader (their interval overlaps the leader's, the leader included); None while no
    model has an interval, or none of those has a known cost. ``board`` is best first, as ``standings_of``."""
    floor: float | None = None  # the leader's lower bound
    level: list[tuple[float, float, str]] = []
    for standing in board:
        if standing.ci_low is None or standing.ci_high is None:
            continue
        floor = standing.ci_low if floor is None else floor
        if standing.ci_high >= floor and standing.median_cost_micros is not None:
            level.append((standing.median_cost_micros, -standing.rating, standing.model))
    return min(level)[2] if level else None


def _count(a: Standing, b: Standing, outcome: str) -> None:
    if outcome == "a":
        a.wins, b.losses = a.wins + 1, b.losses + 1
    elif outcome == "b":
        b.wins, a.losses = b.wins + 1, a.losses + 1
    elif outcome == "tie":
        a.ties, b.ties = a.ties + 1, b.ties + 1
    else:
        a.both_bad, b.both_bad = a.both_bad + 1, b.both_bad + 1


def leaderboard(
    engine: Engine, *, template: str | None = None, since: datetime | None = None, until: datetime | None = None,
    now: datetime | None = None,
) -> Leaderboard:
    """The whole table with each model's typical cost and latency, the position-bias check, and the
    templates there are per-template tables for."""
    votes = load_votes(engine, template=template, since=since, until=until)
    rows = standings_of(votes)
    medians = answer_medians(engine, [s.model for s in rows], (now or utcnow()) - timedelta(days=MEDIAN_DAYS))
    for standing in rows:
        standing.median_cost_micros, standing.median_latency_ms = medians[standing.model]
    return Leaderboard(rows, position_bias([v.outcome for v in votes]), len(votes), template, vote_templates(engine))

"""The leaderboard for scripts: the table the console shows, and votes posted by an evaluation harness.

Anyone with a gateway token may read the table and cast a vote; a vote is attributed to the caller
(the token's owner, or the master key) exactly as a blind vote in the console is to the person.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from app.api.deps import CallerDep, HubDep, PrincipalDep, json_response
from services.catalog.inputs import as_utc
from services.compare.leaderboard import MIN_VOTES, Leaderboard, Standing, cast_vote, leaderboard
from services.errors import CompareError, GatewayError

router = APIRouter(prefix="/api/leaderboard", tags=["leaderboard"])


class VoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_a: str = Field(min_length=1, max_length=200, description="the model whose answer was shown first (on the left)")
    model_b: str = Field(min_length=1, max_length=200)
    winner: Literal["a", "b", "tie"]
    template: str | None = Field(None, max_length=200, description="the prompt template (or any tag) the prompt came from")


def _row(standing: Standing) -> dict[str, Any]:
    cost = standing.median_cost_micros
    return {
        "model": standing.model, "rating": round(standing.rating, 1),
        "ci_low": None if standing.ci_low is None else round(standing.ci_low, 1),
        "ci_high": None if standing.ci_high is None else round(standing.ci_high, 1),
        "votes": standing.votes, "wins": standing.wins, "losses": standing.losses, "ties": standing.ties + standing.both_bad,
        "median_cost_usd": None if cost is None else round(cost / 1_000_000, 7),
        "median_latency_ms": None if standing.median_latency_ms is None else round(standing.median_latency_ms, 1),
    }


def _body(board: Leaderboard) -> dict[str, Any]:
    bias = board.position_bias
    return {
        "object": "leaderboard", "template": board.template, "templates": board.templates, "votes": board.votes, "min_votes": MIN_VOTES,
        "position_bias": {"decisive_votes": bias.decisive, "left_wins": bias.left_wins, "left_share": bias.left_share,
                          "p_value": bias.p_value, "biased": bias.biased},
        "data": [_row(standing) for standing in board.standings],
    }


@router.get("", summary="Bradley–Terry ratings with 95 % intervals, records, and median cost and latency per answer")
async def get_leaderboard(
    hub: HubDep,
    _: PrincipalDep,
    template: Annotated[str | None, Query(description="only the votes made from this template")] = None,
    since: Annotated[datetime | None, Query(description="votes from this ISO time on (default: all)")] = None,
    until: Annotated[datetime | None, Query(description="votes before this ISO time")] = None,
) -> Response:
    board = await run_in_threadpool(
        leaderboard, hub.engine, template=template, since=as_utc(since) if since else None, until=as_utc(until) if until else None,
    )
    return json_response(_body(board))


@router.post("/votes", status_code=201, summary="Record a vote on two models' answers, attributed to the caller")
async def post_vote(hub: HubDep, actor: CallerDep, body: VoteBody) -> Response:
    for param, name in (("model_a", body.model_a), ("model_b", body.model_b)):
        if hub.table.resolve(name) is None:
            raise GatewayError(400, "model_not_found", f"The model `{name}` does not exist.", param=param)
    try:
        vote = await run_in_threadpool(cast_vote, hub.engine, actor, body.model_a, body.model_b, body.winner, body.template)
    except CompareError as error:
        raise GatewayError(400, "invalid_vote", error.message) from None
    return json_response({"object": "vote", "model_a": vote.model_a, "model_b": vote.model_b, "winner": vote.outcome,
                          "template": vote.template, "created_at": vote.created_at.isoformat()}, status=201)

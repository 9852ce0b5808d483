"""Leaderboards: overall and per problem, each with a speed-distribution histogram."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.deps import SessionDep
from api.pages.common import SignedIn, page
from core.services import leaderboard as board
from core.services import web_queries

router = APIRouter()


@router.get("/leaderboard", response_class=HTMLResponse)
def overall(request: Request, session: SessionDep, user: SignedIn) -> HTMLResponse:
    """Sum of every user's best score over published problems."""
    data = board.overall(session, limit=500)
    speeds = web_queries.mean_speed_by_user(session)
    for entry in data["entries"]:
        entry["speed_ratio"] = speeds.get(entry["user"])
    return page(
        request,
        "leaderboard.html",
        problem=None,
        entries=data["entries"],
        speeds=web_queries.speed_ratios(session, None),
    )


@router.get("/problems/{slug}/leaderboard", response_class=HTMLResponse)
def for_problem(request: Request, slug: str, session: SessionDep, user: SignedIn) -> HTMLResponse:
    """Best score per user, then speed relative to the reference, then submission time."""
    data = board.for_problem(session, slug, user, limit=500)
    return page(
        request,
        "leaderboard.html",
        problem=data,
        entries=data["entries"],
        speeds=[e["speed_ratio"] for e in data["entries"] if e["speed_ratio"]],
    )

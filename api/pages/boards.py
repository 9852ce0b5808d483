"""Leaderboards: overall and per problem, each with a speed-distribution histogram."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.deps import SessionDep
from api.pages.common import SignedIn, page
from core.services import leaderboard as board

router = APIRouter()


@router.get("/leaderboard", response_class=HTMLResponse)
def overall(request: Request, session: SessionDep, user: SignedIn) -> HTMLResponse:
    """Sum of every user's best score over the published problems whose board the viewer may
    see, under the names the course leaderboard policies allow."""
    data = board.overall(session, user, limit=500)
    return page(
        request,
        "leaderboard.html",
        problem=None,
        entries=data["entries"],
        speeds=[e["speed_ratio"] for e in data["entries"] if e["speed_ratio"]],
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

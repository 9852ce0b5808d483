"""Leaderboards: overall and per problem."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from api.deps import OptionalUser, SessionDep
from core.services import leaderboard as board

router = APIRouter(tags=["leaderboard"])


@router.get("/leaderboard")
def overall(session: SessionDep, user: OptionalUser, limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
    """Sum of every user's best score over the published problems whose board the caller may
    see; course leaderboard policies apply (pseudonyms, hidden boards left out)."""
    return board.overall(session, user, limit)


@router.get("/leaderboard/{slug}")
def for_problem(
    slug: str, session: SessionDep, user: OptionalUser, limit: int = Query(100, ge=1, le=1000)
) -> dict[str, Any]:
    """Best score per user; ties by speed relative to the reference, then submission time."""
    return board.for_problem(session, slug, user, limit)


@router.get("/problems/{slug}/leaderboard", include_in_schema=False)
def for_problem_alias(
    slug: str, session: SessionDep, user: OptionalUser, limit: int = Query(100, ge=1, le=1000)
) -> dict[str, Any]:
    """Same as /leaderboard/{slug}."""
    return board.for_problem(session, slug, user, limit)

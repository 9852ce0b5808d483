"""Leaderboards: per problem (best score, then speed, then time) and overall (sum of bests)."""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import Subquery

from core.db.models import Problem, Submission, SubmissionStatus, User
from core.services import problems as problem_service


def _ranked_best() -> Subquery:
    # One row per (problem, user): the best finished submission. Order: higher score, then
    # lower speed_ratio (missing ratios last), then earlier submission.
    rank = (
        func.row_number()
        .over(
            partition_by=(Submission.problem_id, Submission.user_id),
            order_by=(
                Submission.score.desc(),
                case((Submission.speed_ratio.is_(None), 1), else_=0),
                Submission.speed_ratio.asc(),
                Submission.created_at.asc(),
                Submission.id.asc(),
            ),
        )
        .label("rank")
    )
    return (
        select(
            Submission.id,
            Submission.problem_id,
            Submission.user_id,
            Submission.score,
            Submission.max_score,
            Submission.speed_ratio,
            Submission.verdict,
            Submission.created_at,
            rank,
        )
        .where(Submission.status == SubmissionStatus.DONE, Submission.score.is_not(None))
        .subquery()
    )


def for_problem(session: Session, slug: str, viewer: User | None, limit: int = 100) -> dict[str, Any]:
    """The ranking of one problem."""
    problem = problem_service.get_problem(session, slug, viewer)
    best = _ranked_best()
    rows = session.execute(
        select(best, User.name)
        .join(User, User.id == best.c.user_id)
        .where(best.c.rank == 1, best.c.problem_id == problem.id)
        .order_by(
            best.c.score.desc(),
            case((best.c.speed_ratio.is_(None), 1), else_=0),
            best.c.speed_ratio.asc(),
            best.c.created_at.asc(),
            best.c.id.asc(),
        )
        .limit(max(1, min(limit, 1000)))
    ).all()
    entries = [
        {
            "rank": i + 1,
            "user": r.name,
            "score": r.score,
            "max_score": r.max_score,
            "speed_ratio": r.speed_ratio,
            "verdict": r.verdict,
            "submission_id": r.id,
            "submitted_at": r.created_at.isoformat() if r.created_at else None,
        }
        for i, r in enumerate(rows)
    ]
    return {"problem": problem.slug, "title": problem.title, "entries": entries}


def overall(session: Session, limit: int = 100) -> dict[str, Any]:
    """Sum of each user's best score over published problems; ties by problems solved."""
    best = _ranked_best()
    total = func.sum(best.c.score).label("total")
    solved = func.sum(case((best.c.verdict == "accepted", 1), else_=0)).label("solved")
    last = func.max(best.c.created_at).label("last")
    rows = session.execute(
        select(User.name, total, solved, last)
        .select_from(best)
        .join(User, User.id == best.c.user_id)
        .join(Problem, Problem.id == best.c.problem_id)
        .where(best.c.rank == 1, Problem.published.is_(True))
        .group_by(User.name)
        .order_by(total.desc(), solved.desc(), last.asc(), User.name.asc())
        .limit(max(1, min(limit, 1000)))
    ).all()
    return {
        "entries": [
            {"rank": i + 1, "user": r.name, "score": float(r.total or 0), "solved": int(r.solved or 0)}
            for i, r in enumerate(rows)
        ]
    }


def grades_csv(session: Session) -> str:
    """Every user's best score per published problem, one row per user (for instructors)."""
    best = _ranked_best()
    problems = list(session.scalars(select(Problem).where(Problem.published.is_(True)).order_by(Problem.slug)))
    rows = session.execute(
        select(User.name, best.c.problem_id, best.c.score)
        .select_from(best)
        .join(User, User.id == best.c.user_id)
        .where(best.c.rank == 1)
    ).all()
    scores: dict[str, dict[int, float]] = {}
    for name, problem_id, score in rows:
        scores.setdefault(name, {})[problem_id] = float(score or 0.0)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["user", *(p.slug for p in problems), "total"])
    for name in sorted(scores):
        per = [scores[name].get(p.id, 0.0) for p in problems]
        writer.writerow([name, *(f"{s:g}" for s in per), f"{sum(per):g}"])
    return out.getvalue()

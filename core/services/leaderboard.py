"""Leaderboards and grade exports, from one definition of a user's best submission.

A user's best submission of a problem is their finished one with the higher score, then the
lower speed ratio (missing ratios last), then the earlier submission time, then the lower id.
The per-problem board, the overall board, the speed charts and every export (the API's
grades.csv, the pages' grades CSV and Gradescope export) all take it from `_ranked_best`.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.selectable import Subquery

from core.db.models import Problem, Submission, SubmissionStatus, User
from core.services import course_access
from core.services import problems as problem_service
from core.services.kinds import counted


def _best_first(cols: Any) -> tuple[ColumnElement[Any], ...]:
    """The order that puts a better submission first: the definition of "best". `cols` is
    the Submission model or the columns of a subquery of it."""
    return (
        cols.score.desc(),
        case((cols.speed_ratio.is_(None), 1), else_=0),
        cols.speed_ratio.asc(),
        cols.created_at.asc(),
        cols.id.asc(),
    )


def _ranked_best() -> Subquery:
    # One row per (problem, user) with rank 1: the best finished submission.
    rank = func.row_number().over(
        partition_by=(Submission.problem_id, Submission.user_id), order_by=_best_first(Submission)
    ).label("rank")
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
        .where(Submission.status == SubmissionStatus.DONE, Submission.score.is_not(None), counted())
        .subquery()
    )


def for_problem(session: Session, slug: str, viewer: User | None, limit: int = 100) -> dict[str, Any]:
    """The ranking of one problem: each user's best submission, best first."""
    problem = problem_service.get_problem(session, slug, viewer)
    best = _ranked_best()
    rows = session.execute(
        select(best, User.name)
        .join(User, User.id == best.c.user_id)
        .where(best.c.rank == 1, best.c.problem_id == problem.id)
        .order_by(*_best_first(best.c))
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
    entries = course_access.apply_board_policy(session, problem, viewer, entries, [r.user_id for r in rows])
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


def best_submissions(session: Session, slug: str | None = None) -> list[Submission]:
    """Each user's best submission per problem (drafts too when `slug` names one), by
    problem slug and user name: the very submissions the leaderboard ranks."""
    best = _ranked_best()
    query = (
        select(Submission)
        .join(best, best.c.id == Submission.id)
        .where(best.c.rank == 1)
        .options(selectinload(Submission.user), selectinload(Submission.problem))
    )
    if slug:
        problem = problem_service.get_problem(session, slug, None, include_unpublished=True)
        query = query.where(Submission.problem_id == problem.id)
    return sorted(session.scalars(query), key=lambda s: (s.problem.slug, s.user.name))


def grades_csv(session: Session) -> str:
    """Every user's best score per published problem, one row per user (for instructors)."""
    problems = list(session.scalars(select(Problem).where(Problem.published.is_(True)).order_by(Problem.slug)))
    scores: dict[str, dict[int, float]] = {}
    for sub in best_submissions(session):
        scores.setdefault(sub.user.name, {})[sub.problem_id] = float(sub.score or 0.0)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["user", *(p.slug for p in problems), "total"])
    for name in sorted(scores):
        per = [scores[name].get(p.id, 0.0) for p in problems]
        writer.writerow([name, *(f"{s:g}" for s in per), f"{sum(per):g}"])
    return out.getvalue()


def submissions_csv(subs: list[Submission]) -> str:
    """One CSV row per (user, problem) best submission, with its id and time."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(
        ["user", "problem", "score", "max_score", "verdict", "speed_ratio", "submission_id", "submitted_at"]
    )
    for s in subs:
        writer.writerow(
            [
                s.user.name,
                s.problem.slug,
                f"{s.score or 0.0:g}",
                f"{s.max_score or 0.0:g}",
                s.verdict or "",
                "" if s.speed_ratio is None else f"{s.speed_ratio:.4g}",
                s.id,
                s.created_at.isoformat(),
            ]
        )
    return buf.getvalue()

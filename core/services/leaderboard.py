"""Leaderboards and grade exports, from one definition of a user's best submission.

A user's best submission of a problem is their finished one with the higher score, then the
lower speed ratio (missing ratios last), then the earlier submission time, then the lower id.
The per-problem board, the overall board, the speed charts and every export (the API's
grades.csv, the pages' grades CSV and Gradescope export) all take it from `_ranked_best`.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.selectable import Subquery

from core.db.models import Problem, Submission, SubmissionStatus, User
from core.services import board_policy, course_access
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
    """The ranking of one problem: each user's best submission, best first, under the
    names board_policy allows the viewer (ForbiddenError where it hides the board)."""
    problem = problem_service.get_problem(session, slug, viewer)
    rule = board_policy.rule_for(session, viewer, problem)  # refused before anything is read
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
    entries = board_policy.present(rule, viewer, entries, [r.user_id for r in rows])
    return {"problem": problem.slug, "title": problem.title, "entries": entries}


def _counted_problems(session: Session, viewer: User | None) -> list[int]:
    """The published problems the viewer may see (global staff: all of them)."""
    query = select(Problem.id).where(Problem.published.is_(True))
    if not course_access.is_global_staff(viewer):
        query = query.where(course_access.visible_clause(viewer))
    return list(session.scalars(query))


def overall(session: Session, viewer: User | None = None, limit: int = 100) -> dict[str, Any]:
    """Sum of each user's best score over the published problems whose board the viewer may
    see (board_policy), ties by problems solved; each row's speed is the geometric mean of
    the user's speed ratios over those problems. Pseudonyms as board_policy says."""
    by_problem = board_policy.rules(session, viewer, _counted_problems(session, viewer))
    shown = {pid: r for pid, r in by_problem.items() if r.mode is not board_policy.BoardMode.HIDDEN}
    best = _ranked_best()
    total = func.sum(best.c.score).label("total")
    solved = func.sum(case((best.c.verdict == "accepted", 1), else_=0)).label("solved")
    last = func.max(best.c.created_at).label("last")
    rows = session.execute(
        select(User.id, User.name, total, solved, last)
        .select_from(best)
        .join(User, User.id == best.c.user_id)
        .where(best.c.rank == 1, best.c.problem_id.in_(list(shown)))
        .group_by(User.id, User.name)
        .order_by(total.desc(), solved.desc(), last.asc(), User.name.asc())
        .limit(max(1, min(limit, 1000)))
    ).all()
    speeds = _mean_speeds(session, best, list(shown), [r.id for r in rows])
    entries = [
        {"rank": i + 1, "user": r.name, "score": float(r.total or 0), "solved": int(r.solved or 0),
         "speed_ratio": speeds.get(r.id)}
        for i, r in enumerate(rows)
    ]
    rule = board_policy.overall_rule(shown)
    return {"entries": board_policy.present(rule, viewer, entries, [r.id for r in rows])}


def _mean_speeds(session: Session, best: Subquery, problem_ids: list[int], user_ids: list[int]) -> dict[int, float]:
    """user id -> geometric mean of the speed ratios of their best submissions of `problem_ids`."""
    if not user_ids:
        return {}
    logs: dict[int, list[float]] = {}
    for uid, ratio in session.execute(
        select(best.c.user_id, best.c.speed_ratio).where(
            best.c.rank == 1, best.c.problem_id.in_(problem_ids), best.c.user_id.in_(user_ids),
            best.c.speed_ratio > 0)
    ):
        logs.setdefault(uid, []).append(math.log(ratio))
    return {uid: math.exp(sum(v) / len(v)) for uid, v in logs.items()}


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

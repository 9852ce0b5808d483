"""Read models the web pages need beyond the JSON API: per-user problem status, filtered
submission tables, the Gradescope export and the single-token sign-out.
Best submissions come from core.services.leaderboard (one definition for boards and exports)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from core.auth import hash_token
from core.db.models import ApiToken, Problem, Submission, SubmissionStatus, User
from core.services.kinds import counted

PAGE_SIZE = 50


def problem_statuses(session: Session, user: User) -> dict[int, str]:
    """problem id -> 'solved' (an accepted submission) or 'attempted' (any other) for `user`."""
    solved = func.sum(case((Submission.verdict == "accepted", 1), else_=0))
    rows = session.execute(
        select(Submission.problem_id, solved)
        .where(Submission.user_id == user.id, counted())
        .group_by(Submission.problem_id)
    ).all()
    return {pid: ("solved" if (n or 0) > 0 else "attempted") for pid, n in rows}


def best_scores(session: Session, user: User) -> dict[int, float]:
    """problem id -> the best score `user` got on it."""
    rows = session.execute(
        select(Submission.problem_id, func.max(Submission.score))
        .where(Submission.user_id == user.id, Submission.status == SubmissionStatus.DONE, counted())
        .group_by(Submission.problem_id)
    ).all()
    return {pid: float(score) for pid, score in rows if score is not None}


@dataclass(frozen=True)
class SubmissionFilter:
    """The instructor table's filters; empty strings mean 'any'."""

    problem: str = ""
    user: str = ""
    verdict: str = ""
    status: str = ""
    page: int = 1


def filter_submissions(session: Session, f: SubmissionFilter) -> tuple[list[Submission], int]:
    """One page of every user's submissions matching `f`, newest first, and the total count."""
    query = select(Submission).where(counted())
    if f.problem:
        query = query.join(Problem, Problem.id == Submission.problem_id).where(Problem.slug == f.problem)
    if f.user:
        query = query.join(User, User.id == Submission.user_id).where(User.name == f.user)
    if f.verdict:
        query = query.where(Submission.verdict == f.verdict)
    if f.status:
        try:
            query = query.where(Submission.status == SubmissionStatus(f.status))
        except ValueError:
            return [], 0
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = max(1, f.page)
    rows = session.scalars(
        query.order_by(Submission.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    )
    return list(rows), int(total)


def gradescope_results(sub: Submission) -> dict[str, Any]:
    """A Gradescope autograder results.json for one submission: one test per result. Hidden
    cases are `after_published` and say only their verdict; public cases are `visible`."""
    tests = []
    for result in sub.cases:
        output = result.verdict.replace("_", " ")
        if result.message and result.visibility == "public":
            output += f": {result.message}"
        tests.append(
            {
                "name": result.name,
                "score": result.points,
                "max_score": result.max_points,
                "output": output,
                "visibility": "visible" if result.visibility == "public" else "after_published",
                "status": "passed" if result.verdict == "accepted" else "failed",
            }
        )
    return {
        "score": sub.score or 0.0,
        "output": f"TensorJudge submission {sub.id} on {sub.problem.slug}: {sub.verdict or sub.status.value}",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "execution_time": sub.wall_s,
        "tests": tests,
        "extra_data": {
            "tensorjudge_submission": sub.id,
            "user": sub.user.name,
            "problem": sub.problem.slug,
            "speed_ratio": sub.speed_ratio,
        },
    }


def revoke_token(session: Session, token: str) -> None:
    """Revoke one token (sign-out of one browser); not committed."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is not None:
        row.revoked = True


def verdict_counts(session: Session, problem: Problem) -> dict[str, int]:
    """How many submissions of a problem got each verdict (unfinished ones by status)."""
    rows = session.execute(
        select(Submission.verdict, Submission.status, func.count(Submission.id))
        .where(Submission.problem_id == problem.id, counted())
        .group_by(Submission.verdict, Submission.status)
    ).all()
    out: dict[str, int] = {}
    for verdict, status, n in rows:
        key = verdict or status.value
        out[key] = out.get(key, 0) + int(n)
    return out

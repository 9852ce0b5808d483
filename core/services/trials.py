"""Trial runs: a solution graded on the public cases only, in the same sandbox by the same
worker, with full feedback, but not counted: a trial is a submission row of kind "trial",
left out of leaderboards, the history, best submissions, grades and quotas, and rate-limited
per user (settings.trial_runs_per_window in settings.trial_window_s)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.base import utcnow
from core.db.models import Submission, User
from core.errors import TensorJudgeError
from core.services import problems as problem_service
from core.services import queue as fair_queue
from core.services.errors import TooManyAttemptsError
from core.services.kinds import Kind
from core.services.uploads import UploadLimits, normalize_upload
from core.services.workspace import check_solution
from core.settings import Settings


def _check_rate(session: Session, settings: Settings, user: User) -> None:
    since = utcnow() - timedelta(seconds=settings.trial_window_s)
    recent = list(session.scalars(
        select(Submission.created_at).where(Submission.user_id == user.id, Submission.kind == Kind.TRIAL.value,
                                            Submission.created_at > since)
        .order_by(Submission.created_at).limit(settings.trial_runs_per_window)))
    if len(recent) >= settings.trial_runs_per_window:
        oldest = recent[0] if recent[0].tzinfo else recent[0].replace(tzinfo=since.tzinfo)
        wait = max(1, int((oldest - since).total_seconds()) + 1)
        raise TooManyAttemptsError(
            f"at most {settings.trial_runs_per_window} trial runs per {settings.trial_window_s // 60 or 1} min; "
            f"try again in {wait} s (submitting is not limited by this)", retry_after_s=wait)


def create_trial(session: Session, settings: Settings, user: User, slug: str, uploads: list[tuple[str, bytes]],
                 limits: UploadLimits) -> Submission:
    """Check an upload and store it as a queued trial run on the public cases (not committed).

    It supersedes only an older queued trial (never a submission); course quotas and
    closing times do not apply (it earns nothing); the per-user trial rate limit does.
    """
    problem = problem_service.get_problem(session, slug, user)
    version = problem_service.current_version(problem)
    public = [c for c in version.summary.get("cases", []) if c.get("visibility") == "public"]
    if not public:
        raise TensorJudgeError(f"{slug} has no public cases to run: submit instead")
    files = normalize_upload(uploads, limits)
    check_solution(files, version.summary)
    _check_rate(session, settings, user)
    return fair_queue.add_queued(session, settings, user, version, files, kind=Kind.TRIAL.value,
                                 max_score=float(sum(float(c.get("points", 0)) for c in public)))


def public_only(problem: Any) -> Any:
    """A loaded problem restricted to its public cases, same package and version (what a trial
    run grades; the hidden cases are never run for it)."""
    from core.problem import Problem

    kept = [c for c in problem.config.cases if str(getattr(c.visibility, "value", c.visibility)) == "public"]
    restricted = Problem(problem.path, problem.config.model_copy(update={"cases": kept}))
    # Same package, same version: the reference cache and the seeds stay as they are.
    restricted.__dict__["content_hash"] = problem.content_hash
    return restricted


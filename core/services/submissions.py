"""Creating, viewing and rejudging submissions. Enqueueing is the caller's job, after commit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session, joinedload, selectinload

from core.db.base import utcnow
from core.db.models import (
    FINAL_STATUSES,
    CaseResult,
    Lane,
    Problem,
    ProblemVersion,
    Role,
    Submission,
    SubmissionStatus,
    User,
)
from core.errors import SubmissionError
from core.services import course_access
from core.services import problems as problem_service
from core.services import queue as fair_queue
from core.services.errors import ForbiddenError, NotFoundError
from core.services.kinds import counted
from core.services.uploads import UploadLimits, normalize_upload
from core.services.workspace import check_solution
from core.settings import Settings


@dataclass(frozen=True)
class Job:
    """What a grading task message carries: ids only, plus the queue it goes to."""

    submission_id: int
    job: int
    queue: str


def job_of(submission: Submission) -> Job:
    """The task message for a submission's current (re)judge request."""
    return Job(submission.id, submission.job, submission.queue)


def upload_limits(settings: Settings) -> UploadLimits:
    """The caps on a submission upload, from settings."""
    return UploadLimits(max_bytes=int(settings.max_upload_mb * 1024 * 1024), max_files=settings.max_upload_files)


def create(
    session: Session,
    settings: Settings,
    user: User,
    slug: str,
    uploads: list[tuple[str, bytes]],
    *,
    idempotency_key: str | None = None,
) -> Submission:
    """Check an upload and store it as a queued submission (not committed). The same user's
    older queued submission to the problem is superseded (settings.queue_supersede)."""
    problem = problem_service.get_problem(session, slug, user)
    course_access.check_submission(session, user, problem)  # hard close and quotas (course rules)
    version = problem_service.current_version(problem)
    files = normalize_upload(uploads, upload_limits(settings))
    check_solution(files, version.summary)  # empty, or no file for the graded module: 400
    return fair_queue.add_queued(session, settings, user, version, files, idempotency_key=idempotency_key,
                                 max_score=float(version.summary.get("max_score", 0.0)))


def check_idempotency_key(key: str | None) -> str | None:
    """A client's Idempotency-Key: 1 to 64 printable ASCII characters (None: no key)."""
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > 64 or not all(33 <= ord(ch) < 127 for ch in key):
        raise SubmissionError("Idempotency-Key must be 1 to 64 printable ASCII characters without spaces")
    return key


def by_idempotency_key(session: Session, user: User, key: str) -> Submission | None:
    """The submission this user already made with this key, if any."""
    sid = session.scalar(
        select(Submission.id).where(Submission.user_id == user.id, Submission.idempotency_key == key)
    )
    return None if sid is None else session.get(Submission, sid, options=_VIEW_OPTIONS)


# Everything a submission view shows, in few queries (and without file contents or archives).
_VIEW_OPTIONS = (
    joinedload(Submission.problem),
    joinedload(Submission.user),
    joinedload(Submission.problem_version).load_only(ProblemVersion.content_hash),
    selectinload(Submission.files),
    selectinload(Submission.cases),
)


def is_staff(user: User) -> bool:
    """Instructors and admins see everyone's submissions."""
    return user.role in (Role.INSTRUCTOR, Role.ADMIN)


def get(session: Session, submission_id: int, viewer: User) -> Submission:
    """A submission its owner or staff may see (NotFoundError for everyone else)."""
    submission = session.get(Submission, submission_id, options=_VIEW_OPTIONS)
    if submission is None or (submission.user_id != viewer.id and not is_staff(viewer)):
        raise NotFoundError(f"no submission {submission_id}")
    return submission


def list_for(
    session: Session,
    viewer: User,
    *,
    problem_slug: str | None = None,
    user_name: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Submission]:
    """Newest first; students only ever see their own."""
    query = select(Submission).where(counted()).order_by(Submission.id.desc())
    if not is_staff(viewer):
        query = query.where(Submission.user_id == viewer.id)
    elif user_name is not None:
        query = query.join(User, User.id == Submission.user_id).where(User.name == user_name)
    if problem_slug is not None:
        problem = problem_service.get_problem(session, problem_slug, viewer)
        query = query.where(Submission.problem_id == problem.id)
    query = query.options(*_VIEW_OPTIONS).limit(max(1, min(limit, 500))).offset(max(0, offset))
    return list(session.scalars(query).unique())


def is_final(submission: Submission) -> bool:
    """Done, failed or superseded: nothing more will happen to it (until a rejudge)."""
    return submission.status in FINAL_STATUSES


def queue_view(
    session: Session, settings: Settings, submission: Submission, cache: dict[str, dict[int, int]] | None = None
) -> dict[str, Any] | None:
    """{"lane", "position", "estimated_wait_s", "workers"} while queued, else None."""
    where = fair_queue.spot(session, settings, submission, cache)
    if where is None:
        return None
    return {"queue": submission.queue, "lane": submission.lane, "position": where.position,
            "estimated_wait_s": where.estimated_wait_s, "workers": where.workers}


def rejudge_notice(submission: Submission) -> dict[str, Any] | None:
    """{"at", "was_verdict", "was_score"} when a rejudge changed its verdict or score."""
    if submission.rejudged_at is None:
        return None
    return {"at": submission.rejudged_at, "was_verdict": submission.was_verdict, "was_score": submission.was_score}


def status_view(submission: Submission, queue: dict[str, Any] | None = None) -> dict[str, Any]:
    """The small, frequently polled part of a submission (status, progress, queue place)."""
    return {
        "id": submission.id,
        "status": submission.status.value,
        "verdict": submission.verdict,
        "score": submission.score,
        "max_score": submission.max_score,
        "progress": {"done": submission.progress_done, "total": submission.progress_total},
        "attempts": submission.attempts,
        "queue": queue,
    }


def case_view(case: CaseResult) -> dict[str, Any]:
    """One case result as shown to the submission's viewer (hidden cases stay terse)."""
    view: dict[str, Any] = {
        "name": case.name,
        "visibility": case.visibility,
        "verdict": case.verdict,
        "points": case.points,
        "max_points": case.max_points,
        "message": case.message,
        "timings": case.timings,
    }
    if case.visibility == "public":
        view.update(feedback=case.feedback, stdout=case.stdout)
    return view


def _requeue_values(problem: Problem) -> dict[str, Any]:
    # A SQL-side `job + 1`: concurrent rejudges, or a session holding stale state, can never
    # hand out the same job number twice or skip writing an unchanged-looking status. The
    # verdict and score it started from are kept for the rejudge notice (a rejudge of a
    # rejudge still pending keeps the first one's).
    values: dict[str, Any] = {
        "job": Submission.job + 1,
        "status": SubmissionStatus.QUEUED,
        "claim": None,
        "claimed_by": None,
        "attempts": 0,
        "infra_errors": 0,
        "progress_done": 0,
        "progress_total": 0,
        "message": "",
        "lane": Lane.REJUDGE.value,
        "queued_at": utcnow(),
        "not_before": None,
        "superseded_by_id": None,
        "previous_verdict": func.coalesce(Submission.previous_verdict, Submission.verdict),
        "previous_score": case(
            (Submission.previous_verdict.is_not(None), Submission.previous_score), else_=Submission.score
        ),
    }
    if problem.current_version is not None:
        values["problem_version_id"] = problem.current_version.id
        values["queue"] = "gpu" if problem.current_version.needs_gpu else "cpu"
    return values


def rejudge_one(session: Session, submission_id: int, viewer: User) -> Job:
    """Requeue one submission (staff only; not committed). Old task messages go stale."""
    if not is_staff(viewer):
        raise ForbiddenError("only instructors and admins may rejudge")
    submission = get(session, submission_id, viewer)
    session.execute(
        update(Submission).where(Submission.id == submission.id).values(**_requeue_values(submission.problem))
    )
    session.refresh(submission)
    return job_of(submission)


def rejudge_problem(session: Session, slug: str, viewer: User) -> list[Job]:
    """Requeue every submission of a problem (staff only; not committed)."""
    if not is_staff(viewer):
        raise ForbiddenError("only instructors and admins may rejudge")
    problem = problem_service.get_problem(session, slug, viewer)
    session.execute(
        update(Submission)
        .where(Submission.problem_id == problem.id, Submission.status != SubmissionStatus.SUPERSEDED,
               counted())
        .values(**_requeue_values(problem))
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    subs = session.scalars(
        select(Submission)
        .where(Submission.problem_id == problem.id, Submission.status != SubmissionStatus.SUPERSEDED,
               counted())
        .order_by(Submission.id)
    )
    return [job_of(s) for s in subs]


def unfinished_jobs(session: Session) -> list[Job]:
    """Queued or running submissions, e.g. to re-enqueue after a broker was wiped."""
    subs = session.scalars(
        select(Submission)
        .where(Submission.status.in_([SubmissionStatus.QUEUED, SubmissionStatus.RUNNING]))
        .order_by(Submission.id)
    )
    return [job_of(s) for s in subs]


def mark_enqueue_failed(session: Session, submission_id: int, message: str) -> None:
    """Record that a queued submission could not be handed to the broker (not committed)."""
    session.execute(
        update(Submission)
        .where(Submission.id == submission_id, Submission.status == SubmissionStatus.QUEUED)
        .values(message=message[:500])
    )

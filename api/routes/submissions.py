"""Submitting, viewing, following (SSE) and rejudging submissions."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sse_starlette.sse import EventSourceResponse

from api.course_schemas import results_policy_view
from api.deps import CurrentUser, DispatcherDep, IdPath, SessionDep, SettingsDep
from api.dispatch import Dispatcher
from api.errors import retry_after
from api.schemas import CasePublic, JobsQueued, Progress, QueuePlace, RejudgeNotice, SubmissionPublic
from core.clock import now
from core.db.base import session_scope
from core.db.models import FINAL_STATUSES, Submission
from core.errors import SubmissionError
from core.services import course_access
from core.services import submissions as service
from core.services.errors import NotFoundError
from core.services.submissions import Job
from core.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(prefix="/submissions", tags=["submissions"])

_FINISHED = FINAL_STATUSES


def to_public(
    submission: Submission,
    session: Session | None = None,
    settings: Settings | None = None,
    cache: dict[str, dict[int, int]] | None = None,
) -> SubmissionPublic:
    """The API view of a submission (hidden cases stay terse); with a session and settings,
    a queued one carries its queue position and wait estimate (`cache` shares the replay of
    the fair policy between the submissions of one list)."""
    place = service.queue_view(session, settings, submission, cache) if session and settings else None
    notice = service.rejudge_notice(submission)
    return SubmissionPublic(
        id=submission.id,
        problem=submission.problem.slug,
        user=submission.user.name,
        status=submission.status.value,
        verdict=submission.verdict,
        score=submission.score,
        max_score=submission.max_score,
        speed_ratio=submission.speed_ratio,
        message=submission.message,
        attempts=submission.attempts,
        progress=Progress(done=submission.progress_done, total=submission.progress_total),
        problem_version=submission.problem_version.content_hash,
        created_at=submission.created_at,
        started_at=submission.started_at,
        finished_at=submission.finished_at,
        files=[f.path for f in submission.files],
        graded=dict((submission.loading or {}).get("graded") or {}),
        notes=list((submission.loading or {}).get("notes") or []),
        cases=[CasePublic(**service.case_view(c)) for c in submission.cases],
        queue=QueuePlace(**place) if place else None,
        superseded_by=submission.superseded_by_id,
        rejudged=RejudgeNotice(**notice) if notice else None,
        kind=submission.kind,
    )


def enqueue_all(dispatcher: Dispatcher, jobs: list[Job]) -> list[int]:
    """Send committed jobs to the broker; returns the ids that could not be sent."""
    failed = []
    for job in jobs:
        try:
            dispatcher.enqueue(job)
        except Exception as exc:  # noqa: BLE001 - a broker fails in many ways
            log.error("could not enqueue submission %s: %s", job.submission_id, exc)
            failed.append(job.submission_id)
    return failed


async def _read_uploads(files: list[UploadFile], max_bytes: int) -> list[tuple[str, bytes]]:
    out = []
    for upload in files:
        data = await upload.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise SubmissionError(f"{upload.filename}: too large, at most {max_bytes} bytes")
        out.append((upload.filename or "solution.py", data))
    return out


@router.post(
    "",
    status_code=201,
    response_model=SubmissionPublic,
    responses={200: {"model": SubmissionPublic, "description": "a retry: the submission this Idempotency-Key made"}},
)
async def submit(
    problem: Annotated[str, Form(description="the problem's slug", max_length=64)],
    files: Annotated[list[UploadFile], File(description="one file, several files, or one zip/tar")],
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    dispatcher: DispatcherDep,
    idempotency_key: Annotated[str | None, Header(
        description="a key of your choice (at most 64 characters): a retried request with the same key "
        "returns the submission the first one made instead of making another")] = None,
) -> Any:
    """Submit a solution; it is queued for grading once stored. Send an Idempotency-Key to
    make retries safe: the same key (per user) always answers with the same submission."""
    key = service.check_idempotency_key(idempotency_key)
    limits = service.upload_limits(settings)
    uploads = await _read_uploads(files, limits.max_bytes)

    def _store() -> tuple[Submission, bool]:
        if key is not None and (earlier := service.by_idempotency_key(session, user, key)) is not None:
            return earlier, False
        try:
            submission = service.create(session, settings, user, problem, uploads, idempotency_key=key)
            session.commit()
        except IntegrityError:
            session.rollback()  # the same key raced in from another request: answer with that one
            earlier = service.by_idempotency_key(session, user, key) if key else None
            if earlier is None:
                raise
            return earlier, False
        return submission, True

    submission, created = await anyio.to_thread.run_sync(_store)
    if not created:
        # A retry: the first request's row is the answer. Its publish may not have happened
        # (that is often why the client retries): send a turn again, best effort (an extra
        # turn is harmless; without one the sweeper re-sends it).
        if submission.status.value == "queued":
            await anyio.to_thread.run_sync(lambda: enqueue_all(dispatcher, [service.job_of(submission)]))
        view = await anyio.to_thread.run_sync(lambda: to_public(submission, session, settings))
        return JSONResponse(view.model_dump(mode="json"), status_code=200)
    # Enqueue only after commit, so that the worker always finds the row; off the event loop,
    # so a slow or unreachable broker holds this request only, never every other one.
    job = service.job_of(submission)
    if await anyio.to_thread.run_sync(lambda: enqueue_all(dispatcher, [job])):
        return JSONResponse(
            {
                "detail": f"submission {submission.id} was saved but the grading queue is "
                "unreachable; it will be graded when the queue is back",
                "id": submission.id,
            },
            status_code=503,
            headers=retry_after(),
        )
    return await anyio.to_thread.run_sync(lambda: to_public(submission, session, settings))


@router.get("", response_model=list[SubmissionPublic])
def list_submissions(
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    problem: str | None = Query(None, max_length=64),
    user_name: str | None = Query(None, alias="user", max_length=64),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> list[SubmissionPublic]:
    """Your submissions, newest first (staff: everyone's, filterable by user)."""
    subs = service.list_for(session, user, problem_slug=problem, user_name=user_name, limit=limit, offset=offset)
    cache: dict[str, dict[int, int]] = {}
    return [results_policy_view(session, user, s, to_public(s, session, settings, cache)) for s in subs]


@router.get("/{submission_id}", response_model=SubmissionPublic)
def get_submission(
    submission_id: IdPath, session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> SubmissionPublic:
    """One submission with per-case results and progress; while queued, its queue position
    and an estimated wait; after a rejudge that changed it, what it was before."""
    submission = service.get(session, submission_id, user)
    return results_policy_view(session, user, submission, to_public(submission, session, settings))


@router.get("/{submission_id}/files/{path:path}")
def get_file(submission_id: IdPath, path: str, session: SessionDep, user: CurrentUser) -> Response:
    """The content of one submitted file (its owner and staff only)."""
    submission = service.get(session, submission_id, user)
    for f in submission.files:
        if f.path == path:
            return Response(f.content, media_type="text/plain; charset=utf-8")
    raise NotFoundError(f"submission {submission_id} has no file {path!r}")


def _snapshot(settings: Settings, submission_id: IdPath) -> dict[str, Any] | None:
    with session_scope(settings.effective_database_url) as session:
        submission = session.get(Submission, submission_id)
        if submission is None:
            return None
        return service.status_view(submission, service.queue_view(session, settings, submission))


@router.get("/{submission_id}/events")
async def events(
    submission_id: IdPath, request: Request, session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> EventSourceResponse:
    """Server-sent events: `progress` on every change, then one `done` and the stream ends."""
    def _withheld_until() -> datetime | None:
        submission = service.get(session, submission_id, user)
        return course_access.results_withheld_until(session, user, submission)

    # A student whose assignment shows results after the due time gets the stream without the
    # hidden cases' verdicts, as the submission's other views (results policy).
    until = await anyio.to_thread.run_sync(_withheld_until)
    session.close()

    async def stream() -> AsyncIterator[dict[str, str]]:
        last: dict[str, Any] | None = None
        for _ in range(int(3600 / max(settings.sse_poll_interval_s, 0.05))):
            if await request.is_disconnected():
                return
            snap = await anyio.to_thread.run_sync(_snapshot, settings, submission_id)
            if snap is None:
                return
            if until is not None and now() < until:
                snap = course_access.withhold(snap, until)
            if snap["status"] in (s.value for s in _FINISHED):
                yield {"event": "done", "data": json.dumps(snap)}
                return
            if snap != last:
                yield {"event": "progress", "data": json.dumps(snap)}
                last = snap
            await anyio.sleep(settings.sse_poll_interval_s)

    return EventSourceResponse(stream(), ping=15)


@router.post("/{submission_id}/rejudge", response_model=JobsQueued)
def rejudge(submission_id: IdPath, session: SessionDep, user: CurrentUser, dispatcher: DispatcherDep) -> JobsQueued:
    """Grade one submission again against its problem's current version (staff only)."""
    job = service.rejudge_one(session, submission_id, user)
    session.commit()
    enqueue_all(dispatcher, [job])
    return JobsQueued(queued=[job.submission_id])

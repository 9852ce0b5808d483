"""Instructor endpoints: upload a package -> validation report -> publish; rejudge."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, File, UploadFile
from fastapi.responses import PlainTextResponse

from api.deps import DispatcherDep, SessionDep, StaffUser
from api.routes.submissions import enqueue_all
from api.schemas import JobsQueued, PublishRequest, UploadResult, VersionPublic
from core.db.models import Problem, ProblemVersion
from core.errors import ProblemError
from core.services import leaderboard
from core.services import problems as problem_service
from core.services import submissions as submission_service
from core.services.errors import ServiceUnavailableError
from core.services.problems import PACKAGE_LIMITS

router = APIRouter(prefix="/admin/problems", tags=["instructor"])


def version_public(problem: Problem, version: ProblemVersion) -> VersionPublic:
    """The API view of a stored version."""
    return VersionPublic(
        id=version.id,
        content_hash=version.content_hash,
        title=version.title,
        created_at=version.created_at,
        current=problem.current_version_id == version.id,
        validation=version.validation,
    )


@router.post("", response_model=UploadResult, status_code=202)
async def upload_package(
    package: Annotated[UploadFile, File(description="the problem folder as .zip or .tar(.gz)")],
    session: SessionDep,
    user: StaffUser,
    dispatcher: DispatcherDep,
) -> UploadResult:
    """Upload a package: it is stored as a new (unpublished) version and a worker validates
    it by running every known solution. Poll GET /admin/problems/{slug}/versions for the
    report (state pending -> done | error), then POST /admin/problems/{slug}/publish."""
    data = await package.read(PACKAGE_LIMITS.max_bytes + 1)
    if len(data) > PACKAGE_LIMITS.max_bytes:
        raise ProblemError(f"package too large: at most {PACKAGE_LIMITS.max_bytes} bytes")
    name = package.filename or "package.zip"

    def _store() -> ProblemVersion:
        version = problem_service.stage_upload(session, name, data, user)
        session.commit()
        return version

    version = await anyio.to_thread.run_sync(_store)
    problem = version.problem
    if version.validation and version.validation.get("state") == "pending":
        try:
            dispatcher.validate(version.id, "gpu" if version.needs_gpu else "cpu")
        except Exception as exc:  # noqa: BLE001 - a broker fails in many ways
            raise ServiceUnavailableError(
                f"version {version.id} was stored but the queue is unreachable: {exc}"
            ) from None
    return UploadResult(
        problem=problem.slug,
        version=version_public(problem, version),
        validation=version.validation or {},
        publish_url=f"/api/v1/admin/problems/{problem.slug}/publish",
    )


@router.get("/{slug}/versions", response_model=list[VersionPublic])
def versions(slug: str, session: SessionDep, user: StaffUser) -> list[VersionPublic]:
    """Every stored version of a problem, newest first, with its validation report."""
    problem = problem_service.get_problem(session, slug, user)
    return [version_public(problem, v) for v in problem_service.list_versions(session, problem)]


@router.post("/{slug}/publish", response_model=VersionPublic)
def publish(slug: str, session: SessionDep, user: StaffUser, body: PublishRequest | None = None) -> VersionPublic:
    """Make a version what students see (refused when its validation failed, unless force)."""
    body = body or PublishRequest()
    problem = problem_service.publish(session, slug, body.version_id, force=body.force)
    session.commit()
    assert problem.current_version is not None
    return version_public(problem, problem.current_version)


@router.post("/{slug}/unpublish", response_model=VersionPublic)
def unpublish(slug: str, session: SessionDep, user: StaffUser) -> VersionPublic:
    """Hide a problem from students."""
    problem = problem_service.unpublish(session, slug)
    session.commit()
    version = problem_service.current_version(problem)
    return version_public(problem, version)


@router.get("/grades.csv", response_class=PlainTextResponse)
def grades(session: SessionDep, user: StaffUser) -> PlainTextResponse:
    """Export every user's best score per published problem as CSV."""
    return PlainTextResponse(
        leaderboard.grades_csv(session),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="grades.csv"'},
    )


@router.post("/{slug}/rejudge", response_model=JobsQueued)
def rejudge_problem(slug: str, session: SessionDep, user: StaffUser, dispatcher: DispatcherDep) -> JobsQueued:
    """Grade every submission of a problem again against its current version."""
    jobs = submission_service.rejudge_problem(session, slug, user)
    session.commit()
    enqueue_all(dispatcher, jobs)
    return JobsQueued(queued=[j.submission_id for j in jobs])

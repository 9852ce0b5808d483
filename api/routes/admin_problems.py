"""Instructor endpoints: upload a package -> validation report -> publish; rejudge."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import PlainTextResponse
from sqlalchemy.orm import Session

from api import packages as package_flow
from api.deps import DispatcherDep, IdPath, SessionDep, StaffUser
from api.routes.submissions import enqueue_all
from api.schemas import JobsQueued, PublishRequest, UploadResult, VersionPublic
from core.db.models import Problem, ProblemVersion
from core.services import leaderboard
from core.services import problems as problem_service
from core.services import submissions as submission_service

router = APIRouter(prefix="/admin/problems", tags=["instructor"])


def version_public(session: Session, problem: Problem, version: ProblemVersion,
                   number: int | None = None) -> VersionPublic:
    """The API view of a stored version; `number` (its number within the problem: v1, v2,
    ...) is counted when not given."""
    if number is None:
        number = problem_service.version_number(session, version)
    return VersionPublic(
        id=version.id,
        number=number,
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
    slug: Annotated[str | None, Form(description="refuse the package unless its slug is this one",
                                     max_length=64)] = None,
) -> UploadResult:
    """Upload a package: it is stored as a new (unpublished) version and a worker validates
    it by running every known solution. Poll GET /admin/problems/{slug}/versions for the
    report (state pending -> done | error), then POST /admin/problems/{slug}/publish.

    A package whose folder is not named after its slug is refused (422); an identical
    re-upload stores nothing and answers `unchanged: true` with the version already stored."""
    staged = await package_flow.upload(session, user, dispatcher, package, slug or None)
    version = staged.version
    problem = version.problem
    return UploadResult(
        problem=problem.slug,
        version=version_public(session, problem, version),
        validation=version.validation or {},
        publish_url=f"/api/v1/admin/problems/{problem.slug}/publish",
        unchanged=staged.unchanged,
        message=(f"unchanged: identical to version {version.id}, nothing stored" if staged.unchanged
                 else f"stored as version {version.id}; a worker validates it"),
    )


@router.post("/{slug}/versions/{version_id}/validate", response_model=VersionPublic, status_code=202)
def validate_version(
    slug: str, version_id: IdPath, session: SessionDep, user: StaffUser, dispatcher: DispatcherDep
) -> VersionPublic:
    """Have a worker validate a stored version again (state back to pending)."""
    problem = problem_service.get_problem(session, slug, user)
    version = problem_service.get_version(session, problem, version_id)
    package_flow.validate_again(session, dispatcher, version)
    return version_public(session, problem, version)


@router.get("/{slug}/versions", response_model=list[VersionPublic])
def versions(slug: str, session: SessionDep, user: StaffUser) -> list[VersionPublic]:
    """Every stored version of a problem, newest first, with its validation report."""
    problem = problem_service.get_problem(session, slug, user)
    listed = problem_service.list_versions(session, problem)
    numbers = problem_service.version_numbers(listed)
    return [version_public(session, problem, v, numbers[v.id]) for v in listed]


@router.post("/{slug}/publish", response_model=VersionPublic)
def publish(slug: str, session: SessionDep, user: StaffUser, body: PublishRequest | None = None) -> VersionPublic:
    """Make a version what students see (refused when its validation failed, unless force)."""
    body = body or PublishRequest()
    problem = problem_service.publish(session, slug, body.version_id, force=body.force)
    session.commit()
    assert problem.current_version is not None
    return version_public(session, problem, problem.current_version)


@router.post("/{slug}/unpublish", response_model=VersionPublic)
def unpublish(slug: str, session: SessionDep, user: StaffUser) -> VersionPublic:
    """Hide a problem from students."""
    problem = problem_service.unpublish(session, slug)
    session.commit()
    version = problem_service.current_version(problem)
    return version_public(session, problem, version)


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

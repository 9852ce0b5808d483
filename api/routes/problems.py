"""Problems as students see them: list, detail, starter download."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from api.deps import OptionalUser, SessionDep
from api.schemas import ProblemDetail, ProblemSummary
from core.db.models import Problem
from core.services import problems as problem_service

router = APIRouter(prefix="/problems", tags=["problems"])


def summary(problem: Problem) -> ProblemSummary:
    """The list entry for a problem."""
    version = problem.current_version
    return ProblemSummary(
        slug=problem.slug,
        title=problem.title,
        published=problem.published,
        max_score=float(version.summary.get("max_score", 0.0)) if version else 0.0,
        needs_gpu=version.needs_gpu if version else False,
        version=version.content_hash if version else None,
    )


@router.get("", response_model=list[ProblemSummary])
def list_problems(session: SessionDep, user: OptionalUser) -> list[ProblemSummary]:
    """Published problems (drafts too for instructors and admins)."""
    return [summary(p) for p in problem_service.list_problems(session, user)]


@router.get("/{slug}", response_model=ProblemDetail)
def get_problem(slug: str, session: SessionDep, user: OptionalUser) -> ProblemDetail:
    """A problem's statement, limits and public cases."""
    problem = problem_service.get_problem(session, slug, user)
    version = problem_service.current_version(problem)
    info = version.summary
    return ProblemDetail(
        **summary(problem).model_dump(),
        statement=version.statement,
        module=info.get("module", ""),
        entry_points=info.get("entry_points", []),
        limits=info.get("limits", {}),
        cases=info.get("cases", []),
        starter_url=f"/api/v1/problems/{problem.slug}/starter",
    )


@router.get("/{slug}/starter", response_class=PlainTextResponse)
def starter(slug: str, session: SessionDep, user: OptionalUser) -> PlainTextResponse:
    """The starter file to fill in, as a download."""
    problem = problem_service.get_problem(session, slug, user)
    version = problem_service.current_version(problem)
    module = version.summary.get("module") or "solution"
    return PlainTextResponse(
        version.starter,
        media_type="text/x-python",
        headers={"Content-Disposition": f'attachment; filename="{module}.py"'},
    )

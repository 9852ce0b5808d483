"""Instructor authoring pages: the diff between two versions of a problem, the student view
of an unpublished version (preview), and the package file editor."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api import packages as package_flow
from api.deps import DispatcherDep, SessionDep
from api.pages.common import Staff, check_csrf, page, redirect
from core.db.models import Problem, ProblemVersion
from core.errors import ProblemError
from core.services import package_diff, packages, workspace
from core.services import problems as problem_service
from core.services.errors import NotFoundError

router = APIRouter()


def _versions(session: SessionDep, slug: str, user: Staff) -> tuple[Problem, list[ProblemVersion], dict[int, int]]:
    problem = problem_service.get_problem(session, slug, user, include_unpublished=True)
    versions = problem_service.list_versions(session, problem)
    return problem, versions, problem_service.version_numbers(versions)


@router.get("/instructor/problems/{slug}/diff", response_class=HTMLResponse)
def version_diff(
    request: Request, slug: str, session: SessionDep, user: Staff, to: int | None = None,
    base: int | None = None,
) -> HTMLResponse:
    """Every file of two versions compared: `to` (default: the newest) against `base`
    (default: the version before it). Unified diffs per changed file; added and removed
    files listed."""
    problem, versions, numbers = _versions(session, slug, user)
    if not versions:
        raise NotFoundError(f"problem {slug!r} has no versions")
    by_id = {v.id: v for v in versions}
    new = by_id.get(to) if to is not None else versions[0]
    if new is None:
        raise NotFoundError(f"problem {slug!r} has no version {to}")
    if base is None:
        older = [v for v in versions if v.id < new.id]
        old = older[0] if older else None
    else:
        old = by_id.get(base)
        if old is None:
            raise NotFoundError(f"problem {slug!r} has no version {base}")
    diff = package_diff.diff_versions(old, new, numbers[old.id], numbers[new.id]) if old is not None else None
    return page(request, "instructor/diff.html", problem=problem, versions=versions, numbers=numbers,
                old=old, new=new, diff=diff)


@router.get("/instructor/problems/{slug}/versions/{version_id}/preview", response_class=HTMLResponse)
def preview(request: Request, slug: str, version_id: int, session: SessionDep, user: Staff) -> HTMLResponse:
    """A version's problem page as a student would see it (statement, starter, public cases,
    limits), published or not, marked as a preview, with Run and Submit disabled."""
    problem, versions, numbers = _versions(session, slug, user)
    version = next((v for v in versions if v.id == version_id), None)
    if version is None:
        raise NotFoundError(f"problem {slug!r} has no version {version_id}")
    cases = version.summary.get("cases", [])
    live = numbers.get(problem.current_version_id or 0) if problem.published else None
    return page(
        request, "problem.html", problem=problem, version=version, info=version.summary,
        public_cases=[c for c in cases if c.get("visibility") == "public"],
        hidden_count=sum(1 for c in cases if c.get("visibility") != "public"), mine=[],
        files=[workspace.EditorFile(workspace.module_paths(version.summary)[0], version.starter or "")],
        module_paths=workspace.module_paths(version.summary), package=workspace.is_package_problem(version.summary),
        error="", source="editor", preview={"number": numbers[version.id], "live": live},
    )


def _files_context(session: SessionDep, slug: str, version_id: int | None, user: Staff, path: str) -> dict[str, Any]:
    problem, _, numbers = _versions(session, slug, user)
    version = problem_service.get_version(session, problem, version_id)
    text, exists, errors = "", False, []
    if path:
        try:
            found = packages.package_text(version, path)
        except ProblemError as exc:
            found, errors = None, [str(exc)]
        exists, text = found is not None, found or ""
    return {"problem": problem, "selected": version, "number": numbers[version.id],
            "listing": packages.package_listing(version), "path": path, "text": text, "exists": exists,
            "errors": errors}


@router.get("/instructor/problems/{slug}/files", response_class=HTMLResponse)
def package_files_page(
    request: Request, slug: str, session: SessionDep, user: Staff, version: int | None = None, path: str = ""
) -> HTMLResponse:
    """Every file of a version (default: the newest), and an editor for one of them (`path`;
    a path the version lacks opens an empty new file)."""
    context = _files_context(session, slug, version, user, path)
    return page(request, "instructor/files.html", status_code=422 if context["errors"] else 200, **context)


@router.post("/instructor/problems/{slug}/files")
async def save_package_file(
    request: Request, slug: str, session: SessionDep, user: Staff, dispatcher: DispatcherDep
) -> Response:
    """Write, create or (action=delete) delete one file of a version: the package is stored
    as a new version and validated on a worker, as an upload is. Refusals are shown on the form."""
    form = await request.form()
    check_csrf(request, str(form.get("csrf", "")))
    version_id = int(str(form.get("version_id", "0")) or 0) or None
    path = str(form.get("path", ""))
    delete = form.get("action") == "delete"
    text = None if delete else str(form.get("text", ""))
    problem = problem_service.get_problem(session, slug, user, include_unpublished=True)
    base = problem_service.get_version(session, problem, version_id)
    try:
        staged = await package_flow.change_file(session, user, dispatcher, base, path, text)
    except ProblemError as exc:
        session.rollback()
        context = _files_context(session, slug, version_id, user, "")
        context.update(path=path, text=text or "", exists=not delete, errors=str(exc).splitlines())
        return page(request, "instructor/files.html", status_code=422, **context)
    version = staged.version
    number = problem_service.version_number(session, version)
    what = f"{path.strip()} deleted" if delete else f"{path.strip()} saved"
    note = (f"{what}: the package is now identical to version v{number}, so nothing new was stored."
            if staged.unchanged
            else f"{what}: stored as version v{number}; a worker validates it.")
    return redirect(f"/instructor/problems/{slug}?version={version.id}", note)

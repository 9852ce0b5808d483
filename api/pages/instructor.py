"""Instructor pages: packages (upload, edit, validate, publish), rejudge, submissions, exports."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from api import packages as package_flow
from api.deps import DispatcherDep, SessionDep, SettingsDep
from api.pages.common import SignedIn, Staff, check_csrf, page, redirect
from api.routes.submissions import enqueue_all
from core.db.models import ProblemVersion, Submission, SubmissionStatus
from core.errors import ProblemError
from core.services import leaderboard, packages, web_queries
from core.services import problems as problem_service
from core.services import submissions as submission_service
from core.verdicts import Verdict

router = APIRouter()


def _dashboard(request: Request, session: SessionDep, user: Staff, errors: list[str] | None = None) -> HTMLResponse:
    problems = problem_service.list_problems(session, user)
    rows = []
    for p in problems:
        versions = problem_service.list_versions(session, p)
        rows.append({"problem": p, "latest": next(iter(versions), None),
                     "counts": web_queries.verdict_counts(session, p),
                     "numbers": problem_service.version_numbers(versions)})
    return page(request, "instructor/dashboard.html", status_code=422 if errors else 200, rows=rows,
                upload_errors=errors or [])


@router.get("/instructor", response_class=HTMLResponse)
def dashboard(request: Request, session: SessionDep, user: Staff) -> HTMLResponse:
    """Every problem (drafts included) with its versions, and the upload form."""
    return _dashboard(request, session, user)


def _staged_notice(session: SessionDep, staged: packages.Staged, stored: str) -> str:
    number = problem_service.version_number(session, staged.version)
    if staged.unchanged:
        return f"Package unchanged: identical to version v{number}, nothing stored."
    return stored.format(number=f"v{number}")


@router.post("/instructor/problems", response_model=None)
async def upload(
    request: Request,
    session: SessionDep,
    user: Staff,
    dispatcher: DispatcherDep,
    package: Annotated[UploadFile, File()],
    csrf: Annotated[str, Form()] = "",
    slug: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Stage an uploaded package as a new version; a worker validates it. A refused package
    is shown on the form it came from, one problem per line."""
    check_csrf(request, csrf)
    try:
        staged = await package_flow.upload(session, user, dispatcher, package, slug or None)
    except ProblemError as exc:
        session.rollback()
        errors = str(exc).splitlines()
        if slug:
            context = _manage_context(request, session, slug, None, user)
            return page(request, "instructor/problem.html", status_code=422, upload_errors=errors, **context)
        return _dashboard(request, session, user, errors)
    version = staged.version
    notice = _staged_notice(session, staged, "Package uploaded as version {number}; a worker validates it.")
    return redirect(f"/instructor/problems/{version.problem.slug}?version={version.id}", notice)


def _version(session: SessionDep, slug: str, version_id: int | None, user: SignedIn) -> ProblemVersion:
    problem = problem_service.get_problem(session, slug, user, include_unpublished=True)
    return problem_service.get_version(session, problem, version_id)


@router.get("/instructor/problems/{slug}", response_class=HTMLResponse)
def problem_admin(
    request: Request, slug: str, session: SessionDep, user: Staff, version: int | None = None
) -> HTMLResponse:
    """A problem's versions and the validation report of one of them."""
    return page(request, "instructor/problem.html", **_manage_context(request, session, slug, version, user))


def _manage_context(
    request: Request, session: SessionDep, slug: str, version_id: int | None, user: SignedIn
) -> dict[str, Any]:
    problem = problem_service.get_problem(session, slug, user, include_unpublished=True)
    selected = _version(session, slug, version_id, user)
    versions = problem_service.list_versions(session, problem)
    return {
        "problem": problem,
        "versions": versions,
        "numbers": problem_service.version_numbers(versions),
        "selected": selected,
        "report": selected.validation,
        "counts": web_queries.verdict_counts(session, problem),
    }


@router.get("/instructor/problems/{slug}/versions/{version_id}/report", response_class=HTMLResponse)
def report_fragment(
    request: Request, slug: str, version_id: int, session: SessionDep, user: Staff
) -> HTMLResponse:
    """The live part of the problem page: the report and the versions (polled while validating)."""
    return page(
        request, "instructor/_manage.html", **_manage_context(request, session, slug, version_id, user)
    )


@router.post("/instructor/problems/{slug}/versions/{version_id}/validate")
def revalidate(
    request: Request,
    slug: str,
    version_id: int,
    session: SessionDep,
    user: Staff,
    dispatcher: DispatcherDep,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Have a worker validate a version (again)."""
    check_csrf(request, csrf)
    selected = _version(session, slug, version_id, user)
    package_flow.validate_again(session, dispatcher, selected)
    return redirect(f"/instructor/problems/{slug}?version={selected.id}", "Validation started.")


@router.post("/instructor/problems/{slug}/publish")
def publish(
    request: Request,
    slug: str,
    session: SessionDep,
    user: Staff,
    version_id: Annotated[int, Form()],
    csrf: Annotated[str, Form()] = "",
    force: Annotated[bool, Form()] = False,
) -> Response:
    """Make a validated version what students see."""
    check_csrf(request, csrf)
    problem = problem_service.publish(session, slug, version_id, force=force)
    session.commit()
    assert problem.current_version is not None
    number = problem_service.version_number(session, problem.current_version)
    return redirect(f"/instructor/problems/{slug}?version={version_id}", f"Version v{number} is published.")


@router.post("/instructor/problems/{slug}/unpublish")
def unpublish(
    request: Request, slug: str, session: SessionDep, user: Staff, csrf: Annotated[str, Form()] = ""
) -> Response:
    """Hide a problem from students."""
    check_csrf(request, csrf)
    problem_service.unpublish(session, slug)
    session.commit()
    return redirect(f"/instructor/problems/{slug}", "The problem is hidden from students.")


@router.post("/instructor/problems/{slug}/rejudge")
def rejudge_problem(
    request: Request,
    slug: str,
    session: SessionDep,
    user: Staff,
    dispatcher: DispatcherDep,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Grade every submission of the problem again against its current version."""
    check_csrf(request, csrf)
    jobs = submission_service.rejudge_problem(session, slug, user)
    session.commit()
    failed = enqueue_all(dispatcher, jobs)
    note = f"{len(jobs)} submissions queued for rejudging."
    if failed:
        note += f" {len(failed)} could not reach the queue."
    return redirect(f"/instructor/submissions?problem={slug}", note)


@router.get("/instructor/problems/{slug}/edit", response_class=HTMLResponse)
def edit_form(
    request: Request, slug: str, session: SessionDep, user: Staff, version: int | None = None
) -> HTMLResponse:
    """Edit the text files of a version; saving stages a new version."""
    selected = _version(session, slug, version, user)
    return page(
        request,
        "instructor/edit.html",
        problem=selected.problem,
        selected=selected,
        number=problem_service.version_number(session, selected),
        texts=packages.editable_texts(selected),
    )


@router.post("/instructor/problems/{slug}/edit")
async def save_edit(
    request: Request, slug: str, session: SessionDep, user: Staff, dispatcher: DispatcherDep
) -> Response:
    """Stage the edited package as a new version; a worker validates it."""
    form = await request.form()
    check_csrf(request, str(form.get("csrf", "")))
    base_id = int(str(form.get("version_id", "0")) or 0)
    edits = {name: str(form[name]) for name in packages.EDITABLE if name in form}
    base = _version(session, slug, base_id or None, user)
    try:
        staged = await package_flow.edit(session, user, dispatcher, base, edits)
    except ProblemError as exc:
        session.rollback()
        base = _version(session, slug, base_id or None, user)
        texts = {**packages.editable_texts(base), **edits}
        return page(request, "instructor/edit.html", status_code=422, problem=base.problem, selected=base,
                    number=problem_service.version_number(session, base), texts=texts,
                    errors=str(exc).splitlines())
    version = staged.version
    return redirect(f"/instructor/problems/{version.problem.slug}?version={version.id}",
                    _staged_notice(session, staged, "Saved as version {number}; a worker validates it."))


@router.get("/instructor/submissions", response_class=HTMLResponse)
def submissions_table(
    request: Request,
    session: SessionDep,
    user: Staff,
    problem: str = "",
    user_name: str = "",
    verdict: str = "",
    status: str = "",
    page_no: int = 1,
) -> HTMLResponse:
    """Everyone's submissions with filters."""
    filters = web_queries.SubmissionFilter(problem, user_name, verdict, status, max(1, page_no))
    subs, total = web_queries.filter_submissions(session, filters)
    return page(
        request,
        "instructor/submissions.html",
        subs=subs,
        total=total,
        filters=filters,
        problems=problem_service.list_problems(session, user),
        verdicts=[v.value for v in Verdict],
        statuses=[s.value for s in SubmissionStatus],
        page_size=web_queries.PAGE_SIZE,
    )


@router.post("/instructor/submissions/{submission_id}/rejudge")
def rejudge_one(
    request: Request,
    submission_id: int,
    session: SessionDep,
    user: Staff,
    dispatcher: DispatcherDep,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Grade one submission again."""
    check_csrf(request, csrf)
    job = submission_service.rejudge_one(session, submission_id, user)
    session.commit()
    enqueue_all(dispatcher, [job])
    return redirect(f"/submissions/{submission_id}", "Queued for rejudging.")


@router.get("/instructor/export/grades.csv")
def export_csv(session: SessionDep, user: Staff, problem: str = "") -> Response:
    """Each student's best submission per problem as CSV."""
    subs = leaderboard.best_submissions(session, problem or None)
    name = f"grades-{problem or 'all'}.csv"
    return Response(
        leaderboard.submissions_csv(subs),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/instructor/export/gradescope.json")
def export_gradescope(session: SessionDep, settings: SettingsDep, user: Staff, problem: str) -> Response:
    """Per student: the Gradescope results.json of their best submission of `problem`."""
    subs = leaderboard.best_submissions(session, problem)
    body = {
        "format": "gradescope-results-per-student",
        "problem": problem,
        "students": [
            {"user": s.user.name, "submission_id": s.id, "results": web_queries.gradescope_results(s)}
            for s in subs
        ],
    }
    return Response(
        json.dumps(body, indent=2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="gradescope-{problem}.json"'},
    )


@router.get("/submissions/{submission_id}/results.json")
def submission_results(submission_id: int, session: SessionDep, user: SignedIn) -> Response:
    """One submission as a Gradescope results.json (its owner and staff)."""
    sub: Submission = submission_service.get(session, submission_id, user)
    return Response(json.dumps(web_queries.gradescope_results(sub), indent=2), media_type="application/json")

"""Student pages: sign in/out, problems, submitting, a submission's live progress, history."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from api.deps import TOKEN_COOKIE, DispatcherDep, SessionDep, SettingsDep, login_args
from api.pages.common import PageUser, SignedIn, check_csrf, page, redirect
from api.pages.courses import results_policy_context, results_policy_rows
from api.routes.submissions import enqueue_all
from core.db.models import FINAL_STATUSES, Submission
from core.errors import SubmissionError
from core.services import problems as problem_service
from core.services import submissions as submission_service
from core.services import users as user_service
from core.services import web_queries
from core.services.errors import AuthError, TooManyAttemptsError

router = APIRouter()

_FINISHED = FINAL_STATUSES


def _safe_next(target: str) -> str:
    # Only local paths: never redirect a fresh sign-in to another site.
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, user: PageUser, next: str = "/") -> HTMLResponse:
    """The sign-in form."""
    return page(request, "login.html", next=_safe_next(next), error="", name="")


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    name: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the password, set the session cookie and go where the user was headed."""
    try:
        token = user_service.login(session, name, password, label="web session", **login_args(request))
    except TooManyAttemptsError as exc:
        refused = page(request, "login.html", status_code=429, next=_safe_next(next), error=str(exc), name=name)
        refused.headers["Retry-After"] = str(exc.retry_after_s)
        return refused
    except AuthError as exc:
        return page(request, "login.html", status_code=401, next=_safe_next(next), error=str(exc), name=name)
    session.commit()
    response = redirect(_safe_next(next))
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        max_age=14 * 24 * 3600,
    )
    return response


@router.post("/logout")
def logout(
    request: Request, session: SessionDep, user: PageUser, csrf: Annotated[str, Form()] = ""
) -> Response:
    """Revoke this browser's token and clear the cookie."""
    token = request.cookies.get(TOKEN_COOKIE)
    if user is not None and token:
        check_csrf(request, csrf)
        web_queries.revoke_token(session, token)
        session.commit()
    response = redirect("/login", "You are signed out.")
    response.delete_cookie(TOKEN_COOKIE)
    return response


@router.get("/", response_class=HTMLResponse)
def index(request: Request, session: SessionDep, user: SignedIn) -> HTMLResponse:
    """The problem list with my status on each."""
    problems = problem_service.list_problems(session, user)
    statuses = web_queries.problem_statuses(session, user)
    best = web_queries.best_scores(session, user)
    rows = [
        {
            "problem": p,
            "status": statuses.get(p.id, "new"),
            "best": best.get(p.id),
            "max_score": (p.current_version.summary.get("max_score") if p.current_version else None),
        }
        for p in problems
    ]
    return page(request, "index.html", rows=rows, groups=group_by_tags(rows))


def group_by_tags(rows: list[dict[str, Any]]) -> list[tuple[str, list[tuple[str, list[dict[str, Any]]]]]]:
    """Rows grouped by course (the first tag) and assignment (the other tags), in list order.

    Courses and assignments proper come with the course workflow; until then a problem's tags
    say where it belongs, e.g. ["nju-llm", "2024-a1", "2025-a2"].
    """
    courses: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for row in rows:
        version = row["problem"].current_version
        tags = [str(t) for t in ((version.summary.get("tags") if version else None) or [])]
        course = tags[0] if tags else "other"
        assignment = " / ".join(tags[1:])  # "" when the problem names no assignment
        courses.setdefault(course, {}).setdefault(assignment, []).append(row)
    ordered = sorted(courses.items(), key=lambda kv: (kv[0] == "other", kv[0]))
    return [(course, sorted(parts.items())) for course, parts in ordered]


@router.get("/problems/{slug}", response_class=HTMLResponse)
def problem_page(request: Request, slug: str, session: SessionDep, user: SignedIn) -> HTMLResponse:
    """Statement, limits, public cases, the starter file and the submit form."""
    problem = problem_service.get_problem(session, slug, user)
    version = problem_service.current_version(problem)
    mine = submission_service.list_for(session, user, problem_slug=slug, limit=10)
    return page(
        request,
        "problem.html",
        problem=problem,
        version=version,
        info=version.summary,
        public_cases=[c for c in version.summary.get("cases", []) if c.get("visibility") == "public"],
        hidden_count=sum(1 for c in version.summary.get("cases", []) if c.get("visibility") != "public"),
        mine=mine,
        error="",
        code="",
    )


@router.get("/problems/{slug}/starter")
def starter(slug: str, session: SessionDep, user: SignedIn) -> PlainTextResponse:
    """The starter file as a download."""
    problem = problem_service.get_problem(session, slug, user)
    version = problem_service.current_version(problem)
    module = version.summary.get("module") or "solution"
    return PlainTextResponse(
        version.starter,
        media_type="text/x-python; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{module}.py"'},
    )


@router.post("/problems/{slug}/submit")
async def submit(
    request: Request,
    slug: str,
    session: SessionDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    user: SignedIn,
    csrf: Annotated[str, Form()] = "",
    code: Annotated[str, Form(max_length=2_000_000)] = "",
    files: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    """Store a pasted or uploaded solution, queue it and show its page."""
    check_csrf(request, csrf)
    limits = submission_service.upload_limits(settings)
    uploads: list[tuple[str, bytes]] = []
    for upload in files or []:
        if not upload.filename:
            continue  # the browser sends an empty part when no file was chosen
        data = await upload.read(limits.max_bytes + 1)
        if len(data) > limits.max_bytes:
            raise SubmissionError(f"{upload.filename}: too large, at most {limits.max_bytes} bytes")
        uploads.append((upload.filename, data))
    if not uploads and code.strip():
        problem = problem_service.get_problem(session, slug, user)
        module = problem_service.current_version(problem).summary.get("module") or "solution"
        uploads = [(f"{module.replace('.', '/')}.py", code.replace("\r\n", "\n").encode())]
    if not uploads:
        raise SubmissionError("Paste your code into the editor or choose a file to upload.")

    def _store() -> Submission:
        submission = submission_service.create(session, settings, user, slug, uploads)
        session.commit()
        return submission

    submission = await anyio.to_thread.run_sync(_store)
    job = submission_service.job_of(submission)
    failed = await anyio.to_thread.run_sync(lambda: enqueue_all(dispatcher, [job]))  # off the event loop
    notice = "Saved, but the grading queue is unreachable; it will be graded later." if failed else ""
    return redirect(f"/submissions/{submission.id}", notice)


def _submission_context(submission: Submission, session: Any = None, settings: Any = None) -> dict[str, Any]:
    place = submission_service.queue_view(session, settings, submission) if session and settings else None
    return {
        "sub": submission,
        "finished": submission.status in _FINISHED,
        "cases": [submission_service.case_view(c) for c in submission.cases],
        "place": place,
        "notice": submission_service.rejudge_notice(submission),
    }


@router.get("/submissions", response_class=HTMLResponse)
def history(
    request: Request, session: SessionDep, user: SignedIn, problem: str = "", page_no: int = 1
) -> HTMLResponse:
    """My submissions, newest first."""
    page_no = max(1, page_no)
    subs, total = web_queries.filter_submissions(
        session, web_queries.SubmissionFilter(problem=problem, user=user.name, page=page_no)
    )
    return page(
        request,
        "history.html",
        subs=results_policy_rows(session, user, subs),
        problem=problem,
        page_no=page_no,
        has_more=total > page_no * web_queries.PAGE_SIZE,
    )


@router.get("/submissions/{submission_id}", response_class=HTMLResponse)
def submission_page(
    request: Request, submission_id: int, session: SessionDep, settings: SettingsDep, user: SignedIn
) -> HTMLResponse:
    """A submission: its queue position while queued, live progress while it runs, then
    per-case verdicts and feedback (and a notice when a rejudge changed it)."""
    submission = submission_service.get(session, submission_id, user)
    return page(request, "submission.html", **results_policy_context(session, user, _submission_context(
        submission, session, settings)))


@router.get("/submissions/{submission_id}/live", response_class=HTMLResponse)
def submission_live(
    request: Request, submission_id: int, session: SessionDep, settings: SettingsDep, user: SignedIn
) -> HTMLResponse:
    """The live part of the submission page (polled, or fetched on each server-sent event)."""
    submission = submission_service.get(session, submission_id, user)
    return page(request, "_submission_live.html", **results_policy_context(session, user, _submission_context(
        submission, session, settings)))


@router.get("/submissions/{submission_id}/source/{path:path}")
def submission_source(
    submission_id: int, path: str, session: SessionDep, user: SignedIn
) -> PlainTextResponse:
    """One submitted file as plain text."""
    submission = submission_service.get(session, submission_id, user)
    for f in submission.files:
        if f.path == path:
            return PlainTextResponse(f.content.decode("utf-8", "replace"))
    raise SubmissionError(f"submission {submission_id} has no file {path!r}")

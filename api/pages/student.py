"""Student pages: sign in/out, the problem list, a submission's live progress, history (a problem's
page, submitting and trial runs are in api.pages.workspace)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from api.deps import TOKEN_COOKIE, SessionDep, SettingsDep, login_args
from api.pages.common import PageUser, SignedIn, check_csrf, page, redirect
from api.pages.courses import results_policy_context, results_policy_rows
from core.db.models import FINAL_STATUSES, Submission
from core.errors import SubmissionError
from core.services import problems as problem_service
from core.services import submissions as submission_service
from core.services import users as user_service
from core.services import web_queries, workspace
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
    """The problem list with my status on each, difficulty, tags and acceptance rate."""
    problems = problem_service.list_problems(session, user)
    statuses = web_queries.problem_statuses(session, user)
    best = web_queries.best_scores(session, user)
    accepted = workspace.acceptance(session)
    rows = [
        {
            "problem": p,
            "status": statuses.get(p.id, "new"),
            "best": best.get(p.id),
            "max_score": (p.current_version.summary.get("max_score") if p.current_version else None),
            "summary": p.current_version.summary if p.current_version else {},
            "acceptance": accepted.get(p.id),
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

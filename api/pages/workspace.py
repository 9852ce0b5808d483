"""A problem's page as a workspace: the statement beside an editor (pre-filled with my last
attempt or the starter), submitting, and trial runs on the public cases."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from api.deps import DispatcherDep, SessionDep, SettingsDep
from api.errors import headers_for, status_for
from api.pages.common import SignedIn, check_csrf, page, redirect
from api.routes.submissions import enqueue_all
from core.db.models import Submission, User
from core.errors import SubmissionError, TensorJudgeError
from core.services import problems as problem_service
from core.services import submissions as submission_service
from core.services import trials, workspace
from core.services.workspace import EditorFile

router = APIRouter()

SOURCES = ("editor", "upload")


def _context(session: SessionDep, user: User, slug: str, files: list[EditorFile] | None = None) -> dict[str, Any]:
    problem = problem_service.get_problem(session, slug, user)
    version = problem_service.current_version(problem)
    cases = version.summary.get("cases", [])
    return {
        "problem": problem,
        "version": version,
        "info": version.summary,
        "public_cases": [c for c in cases if c.get("visibility") == "public"],
        "hidden_count": sum(1 for c in cases if c.get("visibility") != "public"),
        "mine": submission_service.list_for(session, user, problem_slug=slug, limit=10),
        "files": files or workspace.editor_files(session, user, problem, version),
        "module_paths": workspace.module_paths(version.summary),
        "package": workspace.is_package_problem(version.summary),
        "error": "",
        "source": "editor",
    }


@router.get("/problems/{slug}", response_class=HTMLResponse)
def problem_page(request: Request, slug: str, session: SessionDep, user: SignedIn) -> HTMLResponse:
    """Statement, tolerances and public cases beside the editor (last attempt or starter)."""
    return page(request, "problem.html", **_context(session, user, slug))


def _tabs(paths: list[str], codes: list[str], code: str, module_path: str) -> list[EditorFile]:
    """The editor's tabs as the form sent them (a plain textarea without JavaScript: `code`)."""
    tabs = [EditorFile(p.strip(), c.replace("\r\n", "\n")) for p, c in zip(paths, codes, strict=False) if p.strip()]
    if not tabs and code.strip():
        tabs = [EditorFile(module_path, code.replace("\r\n", "\n"))]
    return tabs


async def _solution(files: list[UploadFile] | None, tabs: list[EditorFile], source: str,
                    max_bytes: int) -> list[tuple[str, bytes]]:
    """What the form asks to grade: the editor's files or the uploaded ones, never both."""
    uploaded: list[tuple[str, bytes]] = []
    for upload in files or []:
        if not upload.filename:
            continue  # the browser sends an empty part when no file was chosen
        data = await upload.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise SubmissionError(f"{upload.filename}: too large, at most {max_bytes} bytes")
        uploaded.append((upload.filename, data))
    typed = [(t.path, t.text.encode()) for t in tabs]
    has_code = any(t.text.strip() for t in tabs)
    if source == "upload":
        if not uploaded:
            raise SubmissionError("Choose a file to upload, or select \"the editor's code\" to submit what you wrote.")
        return uploaded
    if source == "editor" and uploaded:
        raise SubmissionError("You chose files to upload but selected \"the editor's code\": select "
                              "\"uploaded files\" to send the files, or clear the file choice.")
    if uploaded and has_code and source not in SOURCES:
        raise SubmissionError("Both the editor and an upload hold code: send one of them (select which).")
    if uploaded:
        return uploaded
    if not typed:
        raise SubmissionError("Write your code in the editor or choose a file to upload.")
    return typed


async def _take(request: Request, slug: str, session: SessionDep, settings: SettingsDep, dispatcher: DispatcherDep,
                user: User, form: dict[str, Any], trial: bool) -> Response:
    check_csrf(request, form["csrf"])
    limits = submission_service.upload_limits(settings)
    summary = problem_service.current_version(problem_service.get_problem(session, slug, user)).summary
    tabs = _tabs(form["paths"], form["codes"], form["code"], workspace.module_paths(summary)[0])
    try:
        uploads = await _solution(form["files"], tabs, form["source"], limits.max_bytes)

        def _store() -> Submission:
            if trial:
                made = trials.create_trial(session, settings, user, slug, uploads, limits)
            else:
                made = submission_service.create(session, settings, user, slug, uploads)
            session.commit()
            return made

        made = await anyio.to_thread.run_sync(_store)
    except TensorJudgeError as exc:
        # Shown on the form it came from, with what was typed kept in the editor.
        session.rollback()
        context = _context(session, user, slug, tabs or None)
        context.update(error=str(exc), source=form["source"] or "editor")
        response = page(request, "problem.html", status_code=status_for(exc), **context)
        response.headers.update(headers_for(exc) or {})
        return response
    failed = await anyio.to_thread.run_sync(lambda: enqueue_all(dispatcher, [submission_service.job_of(made)]))
    notice = "Saved, but the grading queue is unreachable; it will be graded later." if failed else ""
    return redirect(f"/submissions/{made.id}", notice)


FilesField = Annotated[list[UploadFile] | None, File()]
TextList = Annotated[list[str], Form(max_length=2_000_000)]


@router.post("/problems/{slug}/submit")
async def submit(
    request: Request, slug: str, session: SessionDep, settings: SettingsDep, dispatcher: DispatcherDep,
    user: SignedIn, csrf: Annotated[str, Form()] = "", source: Annotated[str, Form(max_length=16)] = "",
    code: Annotated[str, Form(max_length=2_000_000)] = "", paths: TextList = [],  # noqa: B006 - FastAPI copies it
    codes: TextList = [], files: FilesField = None,  # noqa: B006
) -> Response:
    """Submit the editor's files or the uploaded ones (never both at once), queue, show it."""
    form = {"csrf": csrf, "source": source, "code": code, "paths": paths, "codes": codes, "files": files}
    return await _take(request, slug, session, settings, dispatcher, user, form, trial=False)


@router.post("/problems/{slug}/run")
async def run(
    request: Request, slug: str, session: SessionDep, settings: SettingsDep, dispatcher: DispatcherDep,
    user: SignedIn, csrf: Annotated[str, Form()] = "", source: Annotated[str, Form(max_length=16)] = "",
    code: Annotated[str, Form(max_length=2_000_000)] = "", paths: TextList = [],  # noqa: B006
    codes: TextList = [], files: FilesField = None,  # noqa: B006
) -> Response:
    """A trial run of the same files on the public cases only: full feedback, not counted."""
    form = {"csrf": csrf, "source": source, "code": code, "paths": paths, "codes": codes, "files": files}
    return await _take(request, slug, session, settings, dispatcher, user, form, trial=True)

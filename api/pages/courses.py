"""Course pages: my courses, a course's assignments with my scores and due dates, the
assignment view (students: scores, lateness, extension; staff: the editor and extensions),
the roster import with its per-row report, and the gradebook with its CSV download.
Times in forms are UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from api.deps import SessionDep
from api.pages.common import SignedIn, check_csrf, page, redirect
from core.clock import now
from core.db.course_models import CourseRole, LatePolicy, LeaderboardPolicy, ResultsPolicy
from core.errors import TensorJudgeError
from core.services import course_access, course_templates, courses, gradebook, invites, roster
from core.services import submissions as submission_service
from core.services.courses import AssignmentFields, course_role, ensure_course_staff

router = APIRouter()


class FormError(TensorJudgeError):
    """A form field that cannot be read (the message names it)."""


def _utc(value: str, what: str, required: bool = True) -> datetime | None:
    """A form's datetime-local value, taken as UTC."""
    value = (value or "").strip()
    if not value:
        if required:
            raise FormError(f"{what}: a date and time is required")
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise FormError(f"{what}: not a date and time ({value!r})") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _problems(text: str) -> list[tuple[str, float]] | None:
    """'slug:points' per line (or comma); None when empty."""
    items = [x.strip() for x in text.replace(",", "\n").splitlines() if x.strip()]
    if not items:
        return None
    out = []
    for item in items:
        slug, _, points = item.partition(":")
        try:
            out.append((slug.strip(), float(points) if points.strip() else 100.0))
        except ValueError:
            raise FormError(f"problems: {item!r} is not 'slug:points'") from None
    return out


def _int(value: str, what: str) -> int | None:
    value = (value or "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise FormError(f"{what}: a whole number, or empty for none")
    return int(value)


@router.get("/courses", response_class=HTMLResponse)
def my_courses(request: Request, session: SessionDep, user: SignedIn) -> HTMLResponse:
    """My courses; instructors also create one here, blank or from a template."""
    mine = courses.list_courses(session, user)
    staff = user.role.value in ("instructor", "admin")
    templates = course_templates.list_templates() if staff else []
    return page(request, "course/list.html", courses=mine, staff=staff, templates=templates)


@router.post("/courses")
def create_course(
    request: Request, session: SessionDep, user: SignedIn,
    slug: Annotated[str, Form(max_length=64)], title: Annotated[str, Form(max_length=200)],
    template: Annotated[str, Form(max_length=64)] = "", start: Annotated[str, Form(max_length=40)] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Create a course, blank or from a template with every date counted from `start`."""
    check_csrf(request, csrf)
    if template:
        course_templates.instantiate(session, user, template, slug, _utc(start, "start"), title or None)  # type: ignore[arg-type]
    else:
        courses.create_course(session, user, slug, title)
    session.commit()
    return redirect(f"/courses/{slug}", "Course created.")


def _assignment_rows(session: SessionDep, course: Any, user: Any) -> list[dict[str, Any]]:
    rows = []
    for a in courses.visible_assignments(session, course, user):
        mine = gradebook.student_row(session, a, user)
        rows.append({"a": a, "mine": mine, "max_total": gradebook.max_total(a)})
    return rows


@router.get("/courses/{slug}", response_class=HTMLResponse)
def course_page(request: Request, slug: str, session: SessionDep, user: SignedIn) -> HTMLResponse:
    """The course's assignments with due dates and, for students, their scores and late marks."""
    course = courses.get_course(session, slug, user)
    role = course_role(session, course, user)
    return page(request, "course/course.html", course=course, role=role, staff=role in courses.STAFF_ROLES,
                instructor=role is CourseRole.INSTRUCTOR, rows=_assignment_rows(session, course, user),
                policies=_policy_choices(), now=now())


def _policy_choices() -> dict[str, list[str]]:
    return {"late": [p.value for p in LatePolicy], "results": [p.value for p in ResultsPolicy],
            "leaderboard": [p.value for p in LeaderboardPolicy]}


def _fields(form: dict[str, str], creating: bool) -> AssignmentFields:
    return AssignmentFields(
        slug=form.get("slug") if creating else None,
        title=form.get("title") or None,
        description=form.get("description"),
        release_at=_utc(form.get("release_at", ""), "release", creating),
        due_at=_utc(form.get("due_at", ""), "due", creating),
        hard_close_at=_utc(form.get("hard_close_at", ""), "hard close", False),
        clear_hard_close=not creating and not form.get("hard_close_at"),
        late_policy=LatePolicy(form["late_policy"]) if form.get("late_policy") else None,
        late_penalty_pct=float(form["late_penalty_pct"]) if form.get("late_penalty_pct") else None,
        results_policy=ResultsPolicy(form["results_policy"]) if form.get("results_policy") else None,
        leaderboard=LeaderboardPolicy(form["leaderboard"]) if form.get("leaderboard") else None,
        quota_per_day=_int(form.get("quota_per_day", ""), "quota per day"),
        quota_total=_int(form.get("quota_total", ""), "quota in total"),
        clear_quotas=not creating and not form.get("quota_per_day") and not form.get("quota_total"),
        problems=_problems(form.get("problems", "")),
    )


async def _form(request: Request) -> dict[str, str]:
    data = await request.form()
    return {k: str(v) for k, v in data.items() if isinstance(v, str)}


@router.post("/courses/{slug}/assignments")
async def create_assignment(request: Request, slug: str, session: SessionDep, user: SignedIn) -> Response:
    """Add an assignment from the course page's form."""
    form = await _form(request)
    check_csrf(request, form.get("csrf", ""))
    course = courses.get_course(session, slug, user)
    try:
        fields = _fields(form, creating=True)
    except ValueError as exc:
        raise FormError(str(exc)) from None
    a = courses.create_assignment(session, course, user, fields)
    session.commit()
    return redirect(f"/courses/{slug}/assignments/{a.slug}", "Assignment created.")


@router.get("/courses/{slug}/assignments/{name}", response_class=HTMLResponse)
def assignment_page(request: Request, slug: str, name: str, session: SessionDep, user: SignedIn) -> HTMLResponse:
    """Students: each problem's points, score, lateness, their due time. Staff: the editor."""
    course = courses.get_course(session, slug, user)
    a = courses.get_assignment(session, course, name, user)
    role = course_role(session, course, user)
    return page(request, "course/assignment.html", course=course, a=a, role=role,
                staff=role in courses.STAFF_ROLES, instructor=role is CourseRole.INSTRUCTOR,
                mine=gradebook.student_row(session, a, user), max_total=gradebook.max_total(a),
                extensions=sorted(a.extensions, key=lambda e: e.user.name), policies=_policy_choices(),
                lateness=gradebook.lateness_text, now=now())


@router.post("/courses/{slug}/assignments/{name}/edit")
async def edit_assignment(request: Request, slug: str, name: str, session: SessionDep, user: SignedIn) -> Response:
    """Save the assignment editor; scores follow on the next read."""
    form = await _form(request)
    check_csrf(request, form.get("csrf", ""))
    a = courses.get_assignment(session, courses.get_course(session, slug, user), name, user)
    try:
        fields = _fields(form, creating=False)
    except ValueError as exc:
        raise FormError(str(exc)) from None
    courses.update_assignment(session, a, user, fields)
    session.commit()
    return redirect(f"/courses/{slug}/assignments/{name}", "Assignment saved.")


@router.post("/courses/{slug}/assignments/{name}/extensions")
def add_extension(
    request: Request, slug: str, name: str, session: SessionDep, user: SignedIn,
    student: Annotated[str, Form(max_length=64)], due_at: Annotated[str, Form(max_length=40)],
    reason: Annotated[str, Form(max_length=500)] = "", csrf: Annotated[str, Form()] = "",
) -> Response:
    """Grant (or replace) one student's extension."""
    check_csrf(request, csrf)
    a = courses.get_assignment(session, courses.get_course(session, slug, user), name, user)
    courses.grant_extension(session, a, user, student.strip(), _utc(due_at, "extended due"), reason)  # type: ignore[arg-type]
    session.commit()
    return redirect(f"/courses/{slug}/assignments/{name}", f"Extension for {student} saved.")


@router.get("/courses/{slug}/roster", response_class=HTMLResponse)
def roster_page(request: Request, slug: str, session: SessionDep, user: SignedIn) -> HTMLResponse:
    """The members, and the CSV import form (course staff)."""
    course = courses.get_course(session, slug, user)
    ensure_course_staff(session, course, user)
    members = sorted(course.members, key=lambda m: (m.role.value != "instructor", m.role.value, m.user.name))
    return page(request, "course/roster.html", course=course, members=members, report=None,
                instructor=course_role(session, course, user) is CourseRole.INSTRUCTOR,
                invited=invites.pending(session, course),
                invite_days=request.app.state.settings.invite_valid_days)


@router.post("/courses/{slug}/roster", response_class=HTMLResponse)
async def roster_upload(
    request: Request, slug: str, session: SessionDep, user: SignedIn,
    file: Annotated[UploadFile, File()], csrf: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Import an uploaded roster CSV and show what happened to each row."""
    check_csrf(request, csrf)
    course = courses.get_course(session, slug, user)
    reports = roster.import_roster(session, course, user, await file.read(roster.MAX_BYTES + 1))
    session.commit()
    session.refresh(course)
    members = sorted(course.members, key=lambda m: (m.role.value != "instructor", m.role.value, m.user.name))
    return page(request, "course/roster.html", course=course, members=members, report=roster.summary(reports),
                instructor=True, invited=invites.pending(session, course),
                invite_days=request.app.state.settings.invite_valid_days)


@router.get("/courses/{slug}/assignments/{name}/gradebook", response_class=HTMLResponse)
def gradebook_page(
    request: Request, slug: str, name: str, session: SessionDep, user: SignedIn, section: str = ""
) -> HTMLResponse:
    """Every student's score per problem with late marks (course staff)."""
    course = courses.get_course(session, slug, user)
    a = courses.get_assignment(session, course, name, user)
    rows = gradebook.gradebook(session, a, user, section)
    sections = sorted({m.section for m in courses.students(session, course) if m.section})
    return page(request, "course/gradebook.html", course=course, a=a, rows=rows, max_total=gradebook.max_total(a),
                sections=sections, section=section, lateness=gradebook.lateness_text)


@router.get("/courses/{slug}/assignments/{name}/gradebook.csv")
def gradebook_download(slug: str, name: str, session: SessionDep, user: SignedIn) -> PlainTextResponse:
    """The gradebook as a CSV download (course staff)."""
    course = courses.get_course(session, slug, user)
    a = courses.get_assignment(session, course, name, user)
    return PlainTextResponse(gradebook.to_csv(a, gradebook.gradebook(session, a, user)),
                             media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{slug}-{name}-grades.csv"'})


class _WithheldSubmission:
    """A submission as a page shows it while its hidden results are withheld: the overall
    verdict blank, public points only; everything else read from the real row."""

    def __init__(self, submission: Any, view: dict[str, Any]) -> None:
        self._submission, self._view = submission, view

    def __getattr__(self, name: str) -> Any:
        if name in ("verdict", "score", "max_score", "speed_ratio", "message"):
            return self._view[name]
        if name in ("rejudged_at", "was_verdict", "was_score"):
            return None  # what it was before a rejudge would tell the hidden verdict too
        return getattr(self._submission, name)


def results_policy_context(session: Any, viewer: Any, context: dict[str, Any]) -> dict[str, Any]:
    """A submission page's context with hidden cases, the overall verdict and the full score
    left out until the due time where the problem's assignment says so."""
    sub = context["sub"]
    until = course_access.results_withheld_until(session, viewer, sub)
    if until is None:
        return context
    view = course_access.withhold({"status": sub.status.value, "cases": context["cases"], "max_score": sub.max_score,
                                   "verdict": sub.verdict, "score": sub.score}, until)
    return {**context, "sub": _WithheldSubmission(sub, view), "cases": view["cases"]}


def results_policy_rows(session: Any, viewer: Any, subs: list[Any]) -> list[Any]:
    """A submissions table's rows, each withheld as on its own page where the policy says so."""
    out = []
    for sub in subs:
        until = course_access.results_withheld_until(session, viewer, sub)
        if until is None:
            out.append(sub)
            continue
        cases = [submission_service.case_view(c) for c in sub.cases]
        view = course_access.withhold({"status": sub.status.value, "cases": cases, "max_score": sub.max_score,
                                       "verdict": sub.verdict, "score": sub.score}, until)
        out.append(_WithheldSubmission(sub, view))
    return out

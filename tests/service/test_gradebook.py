"""Assignment scores on a real Postgres: a roster of 300 from CSV, three bundled problems with a
due time and a hard close, students before and after the due time with one extension; the
gradebook and its CSV follow when the due time moves, the policy changes or a grade does.
Submissions are inserted already graded (grading is tested in test_courses.py)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.base import session_factory
from core.db.course_models import Assignment, Course, LatePolicy
from core.db.models import Submission
from core.services import courses, gradebook
from core.services.courses import AssignmentFields
from core.services.errors import ForbiddenError

from .course_factories import BUNDLED, course_with_roster, graded, publish_bundled

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # the assignment's due time
H, D = timedelta(hours=1), timedelta(days=1)
POINTS = dict(zip(BUNDLED, (30.0, 30.0, 40.0), strict=True))


@pytest.fixture
def pg(clean_postgres: str) -> Iterator[Session]:
    """A session on the emptied Postgres of the test session."""
    session = session_factory(clean_postgres)()
    yield session
    session.rollback()
    session.close()


def _rows(csv_text: str) -> dict[str, dict[str, str]]:
    return {r["user"]: r for r in csv.DictReader(io.StringIO(csv_text))}


def _book(session: Session, assignment: Assignment, viewer: object) -> dict[str, dict[str, str]]:
    session.expire_all()
    rows = gradebook.gradebook(session, assignment, viewer)  # type: ignore[arg-type]
    return _rows(gradebook.to_csv(assignment, rows))


def test_roster_of_300_assignment_late_penalties_extension_and_moved_due_time(pg: Session) -> None:
    maxes = publish_bundled(pg)
    ines, course_id = course_with_roster(pg, 300)
    course = pg.get(Course, course_id)
    assert course is not None
    a = courses.create_assignment(pg, course, ines, AssignmentFields(
        slug="a1", title="A1", release_at=T0 - 7 * D, due_at=T0, hard_close_at=T0 + 3 * D,
        late_policy=LatePolicy.PER_DAY, late_penalty_pct=10, problems=list(POINTS.items())))
    courses.grant_extension(pg, a, ines, "s003", T0 + 2 * D, "medical")
    pg.commit()
    mhm, imm, ml = BUNDLED
    full = maxes
    graded(pg, "s001", mhm, full[mhm], T0 - H)
    graded(pg, "s001", imm, full[imm], T0 - H)
    graded(pg, "s001", ml, full[ml], T0 - H)
    graded(pg, "s002", mhm, full[mhm], T0 + 30 * H)  # two started days late: -20%
    graded(pg, "s002", imm, full[imm] / 2, T0 - 2 * H)  # half marks, on time
    graded(pg, "s003", mhm, full[mhm], T0 + D)  # late, but within the extension
    graded(pg, "s003", ml, full[ml], T0 + 2 * D + H)  # an hour past the extension: one day
    graded(pg, "s004", mhm, full[mhm] / 2, T0 - D)  # half on time ...
    graded(pg, "s004", mhm, full[mhm], T0 + 5 * H)  # ... full one day late (90% beats 50%)
    late_sub = graded(pg, "s004", imm, full[imm], T0 + 4 * D)  # after the hard close
    book = _book(pg, a, ines)

    assert len(book) == 300 and "ines" not in book
    assert book["s001"]["total"] == "100" and book["s001"][f"{ml}_late_hours"] == "0"
    assert (book["s002"][mhm], book["s002"][f"{mhm}_penalty_pct"], book["s002"][f"{mhm}_late_hours"]) == (
        "24", "20", "30")
    assert (book["s002"][imm], book["s002"]["total"]) == ("15", "39")
    assert book["s003"]["extension"] == "yes" and book["s003"]["due_at"] == (T0 + 2 * D).isoformat()
    assert (book["s003"][mhm], book["s003"][f"{mhm}_penalty_pct"]) == ("30", "0")
    assert (book["s003"][ml], book["s003"][f"{ml}_penalty_pct"], book["s003"]["total"]) == ("36", "10", "66")
    assert (book["s004"][mhm], book["s004"][imm], book["s004"]["total"]) == ("27", "0", "27")
    assert book["s005"]["total"] == "0" and book["s005"]["max_total"] == "100"
    assert book["s150"]["section"] == "sec-0" and book["s150"]["email"] == "s150@uni.example"

    # The due time moves two days later: s002 and s004 are now on time; s003 keeps the extension.
    courses.update_assignment(pg, a, ines, AssignmentFields(due_at=T0 + 2 * D))
    pg.commit()
    book = _book(pg, a, ines)
    assert (book["s002"][mhm], book["s002"]["total"]) == ("30", "45")
    assert (book["s004"][mhm], book["s004"]["total"]) == ("30", "30")
    assert book["s003"]["total"] == "66" and book["s001"]["total"] == "100"

    # The hard close moves past s004's late submission: it counts (on time? no: two started days late).
    courses.update_assignment(pg, a, ines, AssignmentFields(hard_close_at=T0 + 5 * D))
    pg.commit()
    book = _book(pg, a, ines)
    assert (book["s004"][imm], book["s004"][f"{imm}_penalty_pct"]) == ("24", "20")

    # A rejudge lowers a grade: the gradebook follows.
    sub = pg.get(Submission, late_sub)
    assert sub is not None
    sub.score = full[imm] / 2
    pg.commit()
    assert _book(pg, a, ines)["s004"][imm] == "12"

    # The Gradescope-style export carries the same numbers and says why points are missing.
    rows = gradebook.gradebook(pg, a, ines)
    export = gradebook.to_gradescope(a, rows)
    s002 = next(s for s in export["students"] if s["user"] == "s002")
    assert s002["score"] == 45 and [t["name"] for t in s002["tests"]] == list(BUNDLED)
    assert next(t for t in s002["tests"] if t["name"] == ml)["output"] == "no submission"

    # A student sees only their own row, and no gradebook.
    s002_user = courses.students(pg, course)[1].user
    assert gradebook.student_row(pg, a, s002_user).total == 45  # type: ignore[union-attr]
    with pytest.raises(ForbiddenError):
        gradebook.gradebook(pg, a, s002_user)


def test_late_policies_none_per_hour_and_a_course_budget_of_late_days(pg: Session) -> None:
    maxes = publish_bundled(pg, BUNDLED[:1])
    (mhm,) = BUNDLED[:1]
    ines, course_id = course_with_roster(pg, 3)
    course = pg.get(Course, course_id)
    assert course is not None and course.late_days == 3
    fields = {"release_at": T0 - 7 * D, "late_policy": LatePolicy.LATE_DAYS, "problems": [(mhm, 10.0)]}
    a1 = courses.create_assignment(pg, course, ines, AssignmentFields(slug="a1", title="A1", due_at=T0, **fields))
    a2 = courses.create_assignment(pg, course, ines, AssignmentFields(slug="a2", title="A2", due_at=T0 + 7 * D,
                                                                      **fields))
    pg.commit()
    graded(pg, "s001", mhm, maxes[mhm], T0 + 36 * H)  # a1: two late days (and a2: on time)
    graded(pg, "s002", mhm, maxes[mhm], T0 + 7 * D + 47 * H)  # a2: two late days, budget untouched
    graded(pg, "s003", mhm, maxes[mhm], T0 + 71 * H)  # a1: three days; a2 sees it as on time

    r1 = {r.user: r for r in gradebook.gradebook(pg, a1, ines)}
    assert (r1["s001"].total, r1["s001"].late_days_used, r1["s001"].late_days_left) == (10, 2, 1)
    assert (r1["s003"].total, r1["s003"].late_days_used, r1["s003"].late_days_left) == (10, 3, 0)
    assert r1["s002"].total == 0  # nine days late for a1: more than the budget
    r2 = {r.user: r for r in gradebook.gradebook(pg, a2, ines)}
    assert (r2["s002"].total, r2["s002"].late_days_used) == (10, 2)
    assert r2["s001"].late_days_left == 1 and r2["s003"].late_days_left == 0

    # s003 spent all three days on a1: a late a2 submission no longer counts.
    graded(pg, "s003", mhm, maxes[mhm] / 2, T0 + 7 * D + 2 * H)
    pg.expire_all()
    r2 = {r.user: r for r in gradebook.gradebook(pg, a2, ines)}
    assert r2["s003"].total == 10  # the earlier, on-time full submission still counts for a2
    assert r2["s003"].problems[0].late is False

    # Per hour: 5% per started hour. None: late work counts for nothing.
    courses.update_assignment(pg, a1, ines, AssignmentFields(late_policy=LatePolicy.PER_HOUR, late_penalty_pct=5))
    pg.commit()
    r1 = {r.user: r for r in gradebook.gradebook(pg, a1, ines)}
    assert r1["s001"].total == 0 and r1["s001"].problems[0].penalty_pct == 100  # 36 h late
    graded(pg, "s001", mhm, maxes[mhm], T0 + 90 * 60 * timedelta(seconds=1))  # 1.5 h: two hours
    pg.expire_all()
    r1 = {r.user: r for r in gradebook.gradebook(pg, a1, ines)}
    assert r1["s001"].total == 9 and gradebook.lateness_text(r1["s001"].problems[0]) == "late 1.5 h, -10%"
    courses.update_assignment(pg, a1, ines, AssignmentFields(late_policy=LatePolicy.NONE))
    pg.commit()
    r1 = {r.user: r for r in gradebook.gradebook(pg, a1, ines)}
    assert r1["s001"].total == 0 and r1["s001"].problems[0].uncounted_late == 2
    assert gradebook.lateness_text(r1["s001"].problems[0]) == "late submissions only, not counted"


def test_sqlite_sees_the_same_scores(tmp_path: Path) -> None:
    from core.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'g.db'}"
    upgrade(url)
    session = session_factory(url)()
    maxes = publish_bundled(session, BUNDLED[:1])
    ines, course_id = course_with_roster(session, 2)
    course = session.get(Course, course_id)
    assert course is not None
    a = courses.create_assignment(session, course, ines, AssignmentFields(
        slug="a1", title="A1", release_at=T0 - D, due_at=T0, late_policy=LatePolicy.PER_DAY, late_penalty_pct=25,
        problems=[(BUNDLED[0], 8.0)]))
    session.commit()
    graded(session, "s002", BUNDLED[0], maxes[BUNDLED[0]], T0 + 2 * H)
    rows = {r.user: r for r in gradebook.gradebook(session, a, ines)}
    assert rows["s002"].total == 6 and rows["s001"].total == 0
    assert session.scalars(select(Assignment.slug)).all() == ["a1"]
    session.close()

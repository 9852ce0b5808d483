"""Roster import from CSV, with a report line per row: created, updated, unchanged or refused.

The header names the columns (any order, case and spaces ignored): `username` (or `user`,
`user name`, `login`), `display_name` (or `name`, `display name`), `email`, `section`, and an
optional `role` (student, ta or instructor; default student). A user name the judge does not
know yet gets a new student account without a password (an admin gives it a password or a
token); an existing account is enrolled as it is. Nothing is committed here.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.course_models import Course, CourseMembership, CourseRole
from core.db.models import Role, User
from core.errors import TensorJudgeError
from core.services import users as user_service
from core.services.courses import ensure_instructor

MAX_ROWS = 5000
MAX_BYTES = 2 * 1024 * 1024
_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")
_ALIASES = {
    "username": "username", "user": "username", "user_name": "username", "login": "username",
    "display_name": "display_name", "name": "display_name", "full_name": "display_name",
    "email": "email", "e_mail": "email", "mail": "email",
    "section": "section", "group": "section",
    "role": "role",
}


class RosterError(TensorJudgeError):
    """The file as a whole cannot be read as a roster (the message says why)."""


@dataclass(frozen=True)
class RowReport:
    """What happened to one row of the file (line numbers count the header as line 1)."""

    line: int
    username: str
    action: str  # created | updated | unchanged | refused
    detail: str = ""
    new_account: bool = False


def _key(header: str) -> str:
    return re.sub(r"[\s\-]+", "_", header.strip().lower())


def _columns(header: list[str]) -> dict[str, int]:
    cols: dict[str, int] = {}
    for i, raw in enumerate(header):
        name = _ALIASES.get(_key(raw))
        if name and name not in cols:
            cols[name] = i
    if "username" not in cols:
        raise RosterError("the header row must name a 'username' column (then display_name, email, section)")
    return cols


def _decode(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise RosterError(f"the roster file is too large (at most {MAX_BYTES // 1024} KB)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RosterError("the roster file is not UTF-8 text") from None


def _role(value: str) -> CourseRole | None:
    try:
        return CourseRole((value or "student").strip().lower())
    except ValueError:
        return None


def import_roster(session: Session, course: Course, viewer: User, data: bytes) -> list[RowReport]:
    """Enroll every row's user in `course` (its instructors only); one report per data row."""
    ensure_instructor(session, course, viewer)
    rows = list(csv.reader(io.StringIO(_decode(data))))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise RosterError("the roster file is empty")
    if len(rows) > MAX_ROWS + 1:
        raise RosterError(f"at most {MAX_ROWS} students per import")
    cols = _columns(rows[0])
    existing = {
        m.user_id: m for m in session.scalars(select(CourseMembership).where(CourseMembership.course_id == course.id))
    }
    names = [r[cols["username"]].strip() for r in rows[1:] if len(r) > cols["username"]]
    users = {u.name: u for u in session.scalars(select(User).where(User.name.in_(names)))} if names else {}
    seen: set[str] = set()
    reports = []
    for line, row in enumerate(rows[1:], start=2):
        def cell(name: str, row: list[str] = row) -> str:
            i = cols.get(name)
            return row[i].strip() if i is not None and i < len(row) else ""

        reports.append(_one(session, course, line, cell, users, existing, seen))
    session.flush()
    return reports


def _one(session: Session, course: Course, line: int, cell: Any, users: dict[str, User],
         existing: dict[int, CourseMembership], seen: set[str]) -> RowReport:
    username, display, email, section = cell("username"), cell("display_name"), cell("email"), cell("section")
    if not username:
        return RowReport(line, "", "refused", "no user name")
    if username in seen:
        return RowReport(line, username, "refused", "listed twice in this file (the first row counts)")
    seen.add(username)
    role = _role(cell("role"))
    if role is None:
        return RowReport(line, username, "refused", f"unknown role {cell('role')!r}: use student, ta or instructor")
    if email and not _EMAIL.match(email):
        return RowReport(line, username, "refused", f"invalid email address {email!r}")
    if len(display) > 200 or len(section) > 64 or len(email) > 254:
        return RowReport(line, username, "refused", "a field is too long (name 200, section 64, email 254)")
    user, new_account = users.get(username), False
    if user is None:
        try:
            with session.begin_nested():
                user = user_service.create_user(session, username, Role.STUDENT)
        except TensorJudgeError as exc:
            return RowReport(line, username, "refused", str(exc))
        users[username], new_account = user, True
    if not user.is_active:
        return RowReport(line, username, "refused", "this account is disabled")
    member = existing.get(user.id)
    if member is None:
        member = CourseMembership(course_id=course.id, user_id=user.id, role=role, section=section,
                                  display_name=display, email=email)
        session.add(member)
        existing[user.id] = member
        return RowReport(line, username, "created", f"enrolled as {role.value}", new_account)
    changes = [name for name, new in (("display name", display), ("email", email), ("section", section))
               if new and getattr(member, name.replace(" ", "_")) != new]
    if member.role is not role:
        if member.role is CourseRole.INSTRUCTOR and member.user_id == course.created_by_id:
            return RowReport(line, username, "refused", "the course's creator stays its instructor")
        changes.append("role")
        member.role = role
    if not changes:
        return RowReport(line, username, "unchanged")
    member.display_name = display or member.display_name
    member.email = email or member.email
    member.section = section or member.section
    return RowReport(line, username, "updated", "changed " + ", ".join(changes))


def summary(reports: list[RowReport]) -> dict[str, Any]:
    """Counts per action and the rows themselves, as the API and the pages show them."""
    counts = {a: 0 for a in ("created", "updated", "unchanged", "refused")}
    for r in reports:
        counts[r.action] += 1
    return {"counts": counts, "new_accounts": sum(r.new_account for r in reports),
            "rows": [asdict(r) for r in reports]}

"""Roster invites: one-time links that let a roster-created account (no password) set its
first password (issue 15).

A course's instructors issue invites for its students who have no password, all of them or
the ones they name. Each invite is a random token (256 bits) of which only the SHA-256 is
stored; it is good once, until it expires (`invite_valid_days`), and issuing a new invite for a
user revokes their older unused ones. No mail is sent: the caller gets the links (as a CSV for
a mail merge). Nothing here commits: the caller does.
"""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from core.auth import hash_token
from core.clock import now
from core.db.course_models import Course, CourseMembership, CourseRole, Invite
from core.db.models import User
from core.services import users as user_service
from core.services.courses import ensure_instructor
from core.services.errors import ConflictError, NotFoundError

INVITE_PATH = "/invite/"


class InviteError(NotFoundError):
    """An invite link that cannot be used (unknown, used, replaced or expired): a 404 whose
    message says which and what to do."""


@dataclass(frozen=True)
class IssuedInvite:
    """A new invite and its link's token (shown once: only its hash is stored)."""

    user: str
    name: str
    email: str
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class Skipped:
    """A user an invite was not made for, and why."""

    user: str
    reason: str


def _students(
    session: Session, course: Course, names: list[str] | None
) -> tuple[list[CourseMembership], list[Skipped]]:
    members = {
        m.user.name: m
        for m in session.scalars(
            select(CourseMembership)
            .where(CourseMembership.course_id == course.id, CourseMembership.role == CourseRole.STUDENT)
            .options(selectinload(CourseMembership.user))
        )
    }
    if names is None:
        return [members[n] for n in sorted(members)], []
    chosen, skipped = [], []
    for name in dict.fromkeys(n.strip() for n in names if n.strip()):
        if name in members:
            chosen.append(members[name])
        else:
            skipped.append(Skipped(name, f"not a student of {course.slug}"))
    return chosen, skipped


def issue(
    session: Session, course: Course, viewer: User, valid_for: timedelta, names: list[str] | None = None
) -> tuple[list[IssuedInvite], list[Skipped]]:
    """Invites for the course's students without a password (`names`: only those; None: all),
    valid for `valid_for` from now (the course's instructors only). Students who have a
    password or whose account is disabled are skipped, with the reason."""
    ensure_instructor(session, course, viewer)
    members, skipped = _students(session, course, names)
    t = now()
    issued = []
    for m in members:
        user = m.user
        if user.password_hash:
            skipped.append(Skipped(user.name, "already has a password"))
            continue
        if not user.is_active:
            skipped.append(Skipped(user.name, "the account is disabled"))
            continue
        session.execute(
            update(Invite)
            .where(Invite.user_id == user.id, Invite.used_at.is_(None), Invite.revoked_at.is_(None))
            .values(revoked_at=t)
        )
        token = secrets.token_urlsafe(32)
        session.add(Invite(course_id=course.id, user_id=user.id, token_hash=hash_token(token),
                           created_by_id=viewer.id, created_at=t, expires_at=t + valid_for))
        issued.append(IssuedInvite(user.name, m.display_name, m.email, token, t + valid_for))
    session.flush()
    return issued, skipped


def link(base_url: str, token: str) -> str:
    """The invite's full link on the server at `base_url`."""
    return base_url.rstrip("/") + INVITE_PATH + token


def to_csv(issued: list[IssuedInvite], base_url: str) -> str:
    """user,name,email,link: one row per invite, for a mail merge."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["user", "name", "email", "link"])
    for i in issued:
        writer.writerow([i.user, i.name, i.email, link(base_url, i.token)])
    return out.getvalue()


def find(session: Session, token: str) -> Invite:
    """The usable invite for a link's token, or InviteError saying why it cannot be used."""
    invite = session.scalar(
        select(Invite).where(Invite.token_hash == hash_token(token or "")).options(selectinload(Invite.user))
    )
    if invite is None:
        raise InviteError("this invite link is not valid: check that it was copied whole")
    if invite.used_at is not None:
        raise InviteError("this invite link has already been used: sign in with the password you set")
    if invite.revoked_at is not None:
        raise InviteError("this invite link was replaced by a newer one: use the latest link you were sent")
    if now() >= invite.expires_at:
        raise InviteError("this invite link has expired: ask your instructor for a new one")
    if not invite.user.is_active:
        raise InviteError("this account is disabled")
    if invite.user.password_hash:
        raise InviteError("this account already has a password: sign in with it")
    return invite


def accept(session: Session, token: str, password: str, confirm: str | None = None) -> tuple[User, str]:
    """Set the invited account's password (the usual password rules), use the invite up, and
    sign the user in: returns the user and a new session token."""
    invite = find(session, token)
    if confirm is not None and confirm != password:
        raise ConflictError("the two passwords are not the same")
    user_service.update_user(session, invite.user, password=password)
    invite.used_at = now()
    session.flush()
    return invite.user, user_service.issue_token(session, invite.user, "web session")


def pending(session: Session, course: Course) -> dict[int, datetime]:
    """user id -> when their usable invite expires, for the course's students who have one."""
    rows = session.execute(
        select(Invite.user_id, Invite.expires_at).where(
            Invite.course_id == course.id, Invite.used_at.is_(None), Invite.revoked_at.is_(None),
            Invite.expires_at > now())
    ).all()
    return {uid: at for uid, at in rows}

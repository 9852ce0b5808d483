"""Getting a fresh installation ready: bundled problems published, demo accounts."""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from core.db.models import Role
from core.errors import ProblemError
from core.services import problems as problem_service
from core.services import users as user_service
from core.settings import Settings

log = logging.getLogger(__name__)

DEMO_ROLES = (Role.ADMIN, Role.INSTRUCTOR, Role.STUDENT)


@dataclass(frozen=True)
class DemoAccount:
    """A demo user's name, role, password and API token."""

    name: str
    role: str
    password: str
    token: str


def publish_bundled(session: Session, problems_dir: Path) -> list[str]:
    """Stage every package under problems_dir and publish new versions (commits each)."""
    published: list[str] = []
    if not problems_dir.is_dir():
        return published
    for path in sorted(p for p in problems_dir.iterdir() if (p / "problem.toml").is_file()):
        try:
            version = problem_service.stage_directory(session, path)
            problem = version.problem
            if problem.current_version_id != version.id:
                problem_service.publish(session, problem.slug, version.id, force=True)
            session.commit()
            published.append(problem.slug)
        except ProblemError as exc:
            session.rollback()
            log.warning("skipping %s: %s", path.name, exc)
    return published


def demo_accounts(session: Session, settings: Settings) -> list[DemoAccount]:
    """One admin, one instructor and one student, with tokens that survive restarts.

    Only token hashes are in the database, so the tokens themselves are kept in
    data_dir/demo_accounts.json (mode 0600) for printing again on the next start."""
    path = settings.data_dir / "demo_accounts.json"
    saved: dict[str, dict[str, str]] = {}
    if path.exists():
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            saved = {}
    accounts = []
    for role in DEMO_ROLES:
        name = role.value
        entry = saved.get(name, {})
        user = user_service.get_user_by_name(session, name)
        if user is None:
            password = entry.get("password") or secrets.token_urlsafe(9)
            user = user_service.create_user(session, name, role, password)
            entry = {"password": password}
        token = entry.get("token", "")
        if not token or user_service.user_for_token(session, token) is None:
            token = user_service.issue_token(session, user, "demo")
        entry["token"] = token
        saved[name] = entry
        accounts.append(DemoAccount(name, role.value, entry.get("password", ""), token))
    session.commit()
    path.write_text(json.dumps(saved, indent=2))
    path.chmod(0o600)
    return accounts

"""Users, roles, passwords and API tokens."""

from __future__ import annotations

import re
import threading
import time
from collections import deque

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.auth import hash_password, hash_token, new_api_token, verify_password
from core.db.base import utcnow
from core.db.models import ApiToken, Role, User
from core.services.errors import AuthError, ConflictError, NotFoundError, TooManyAttemptsError

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}\Z")
MIN_PASSWORD_LEN = 8


def parse_role(value: str) -> Role:
    """A Role from its name, with a clear error for anything else."""
    try:
        return Role(value.lower())
    except ValueError:
        raise ConflictError(f"unknown role {value!r}: use one of {', '.join(r.value for r in Role)}") from None


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LEN:
        raise ConflictError(f"password too short: at least {MIN_PASSWORD_LEN} characters")


def create_user(session: Session, name: str, role: Role, password: str | None = None) -> User:
    """Add a user (not committed); names are unique, passwords optional (token-only users)."""
    if not _NAME.match(name):
        raise ConflictError("bad user name: 1-64 letters, digits, '_', '-' or '.'")
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise ConflictError(f"user {name!r} already exists")
    if password is not None:
        _check_password(password)
    user = User(name=name, role=role, password_hash=hash_password(password) if password else None)
    session.add(user)
    session.flush()
    return user


def issue_token(session: Session, user: User, label: str = "") -> str:
    """Create an API token for `user` (not committed) and return it; only its hash is kept."""
    token = new_api_token()
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), label=label[:64]))
    session.flush()
    return token


class LoginThrottle:
    """Failed sign-ins per (name, client) in a sliding window; past the limit every attempt for
    that pair is refused, right password or not, until the oldest failure leaves the window.

    Keyed on the client as well as the name, so guessing from one address cannot lock the
    real user out from another. Held in memory: each API process counts its own attempts.
    """

    def __init__(self, max_failures: int = 10, window_s: float = 300) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def check(self, name: str, client: str) -> None:
        """Raise TooManyAttemptsError if this pair has used up its failures."""
        now = time.monotonic()
        with self._lock:
            times = self._recent((name.lower(), client), now)
            if len(times) >= self.max_failures:
                wait = max(1, int(times[0] + self.window_s - now) + 1)
                raise TooManyAttemptsError(
                    f"too many failed sign-ins for {name!r}; try again in {wait} s", retry_after_s=wait)

    def failed(self, name: str, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            key = (name.lower(), client)
            times = self._recent(key, now)
            times.append(now)
            self._failures[key] = times
            if len(self._failures) > 100_000:  # bound memory under a spray of names
                for stale in [k for k, v in self._failures.items() if not v or v[-1] <= now - self.window_s]:
                    del self._failures[stale]

    def succeeded(self, name: str, client: str) -> None:
        with self._lock:
            self._failures.pop((name.lower(), client), None)


def login(session: Session, name: str, password: str, label: str = "login", *,
          throttle: LoginThrottle | None = None, client: str = "") -> str:
    """Check a name and password and issue a new token (not committed).

    With a throttle, failures are counted per (name, client) and a pair past its limit gets
    TooManyAttemptsError before the password is even checked.
    """
    if throttle is not None:
        throttle.check(name, client)
    user = get_user_by_name(session, name)
    if user is None or not user.is_active or not verify_password(password, user.password_hash):
        if throttle is not None:
            throttle.failed(name, client)
        raise AuthError("wrong user name or password")
    if throttle is not None:
        throttle.succeeded(name, client)
    return issue_token(session, user, label)


def user_for_token(session: Session, token: str) -> User | None:
    """The active user owning an unrevoked token, or None."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token), ApiToken.revoked.is_(False)))
    if row is None or not row.user.is_active:
        return None
    now = utcnow()
    # Touch last_used_at at most once a minute: a write per request would serialize reads.
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        row.last_used_at = now
    return row.user


def token_is_valid(session: Session, token: str) -> bool:
    """Whether `token` currently authenticates someone."""
    return user_for_token(session, token) is not None


def get_user(session: Session, user_id: int) -> User:
    """A user by id."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user with id {user_id}")
    return user


def get_user_by_name(session: Session, name: str) -> User | None:
    """A user by name, or None. A name no account could have (a NUL byte, say, which Postgres
    cannot even compare) is not looked up."""
    if not _NAME.match(name):
        return None
    return session.scalar(select(User).where(User.name == name))


def list_users(session: Session) -> list[User]:
    """Every user, by id."""
    return list(session.scalars(select(User).order_by(User.id)))


def update_user(
    session: Session,
    user: User,
    *,
    role: Role | None = None,
    is_active: bool | None = None,
    password: str | None = None,
) -> User:
    """Change a user's role, activity or password (not committed)."""
    if role is not None:
        user.role = role
    if is_active is not None:
        user.is_active = is_active
    if password is not None:
        _check_password(password)
        user.password_hash = hash_password(password)
    session.flush()
    return user


def revoke_tokens(session: Session, user: User) -> int:
    """Revoke every token of `user` (not committed); returns how many."""
    count = 0
    for token in user.tokens:
        if not token.revoked:
            token.revoked = True
            count += 1
    return count


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    """`user`'s unrevoked tokens, newest first."""
    return list(session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False))
        .order_by(ApiToken.id.desc())))


def revoke_token(session: Session, user: User, token_id: int) -> ApiToken:
    """Revoke one of `user`'s own tokens by id (not committed); someone else's is not found."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id or row.revoked:
        raise NotFoundError(f"you have no token with id {token_id}")
    row.revoked = True
    return row

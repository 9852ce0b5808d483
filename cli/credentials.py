"""Where `tensorjudge login` keeps the server and token, and how later commands find them.

The file is JSON in the user's config dir (XDG_CONFIG_HOME respected), created with mode 0600
inside a 0700 folder, since the token acts as the user.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from cli.exits import fail
from core.settings import get_settings


@dataclass(frozen=True)
class Credentials:
    """A server URL and a token for it (the token may be missing)."""

    server: str
    token: str | None
    user: str = ""


def credentials_file() -> Path:
    """The credentials file of this user."""
    return get_settings().cli_config_file


def load() -> Credentials | None:
    """The stored credentials, or None when there are none (or the file is unreadable)."""
    path = credentials_file()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("server"), str):
        return None
    token = data.get("token")
    return Credentials(data["server"], token if isinstance(token, str) else None, str(data.get("user", "")))


def save(creds: Credentials) -> Path:
    """Write the credentials with mode 0600 (replacing any earlier ones atomically)."""
    path = credentials_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"server": creds.server, "token": creds.token, "user": creds.user}, fh)
    os.chmod(tmp, 0o600)  # O_CREAT's mode is filtered by the umask
    os.replace(tmp, path)
    return path


def forget() -> bool:
    """Remove the stored credentials; whether there were any."""
    try:
        credentials_file().unlink()
    except FileNotFoundError:
        return False
    return True


def resolve(server: str | None, token: str | None) -> Credentials:
    """--server/--token (or their environment variables) first, then the stored login.

    A stored token is used only for the server it was issued by.
    """
    stored = load()
    if server is None:
        if stored is None:
            fail("no server: pass --server URL or run `tensorjudge login --server URL` first")
            raise AssertionError  # unreachable: fail() exits
        server = stored.server
    if token is None and stored is not None and stored.server.rstrip("/") == server.rstrip("/"):
        token = stored.token
    return Credentials(server.rstrip("/"), token, stored.user if stored else "")

"""Problem packages from the web pages: stage an upload or an edit now, validate it later.

Validation grades the reference and every known solution, which takes minutes, so the page
stages the version first and validates it in the background. While it runs, the version's
`validation` holds {"state": "running", "ok": false}, which also keeps it from being
published (publish refuses a version whose validation is not ok).
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from core.db.base import session_scope, utcnow
from core.db.models import ProblemVersion, User
from core.errors import ProblemError, SubmissionError
from core.services import problems as problem_service
from core.services.problems import PACKAGE_LIMITS
from core.services.uploads import read_archive, write_tree
from core.settings import Settings

log = logging.getLogger(__name__)

# Files an instructor may edit in the browser; everything else in the package is kept as is.
EDITABLE = ("problem.toml", "statement.md", "starter.py", "reference.py", "driver.py")
MAX_EDIT_BYTES = 512 * 1024

Validator = Callable[..., Any]


def stage_files(session: Session, files: dict[str, bytes], user: User) -> ProblemVersion:
    """Load a package given as {path: bytes} and record it as a version (not committed)."""
    from core.problem import load_problem

    with tempfile.TemporaryDirectory(prefix="tj-web-upload-") as tmpdir:
        write_tree(files, Path(tmpdir) / "pkg")
        root = problem_service.package_root(Path(tmpdir) / "pkg")
        slug = problem_service.load_problem_lenient(root)
        final = Path(tmpdir) / "named" / slug
        shutil.copytree(root, final)
        loaded = load_problem(final)
        return problem_service.stage(session, loaded, problem_service.pack_directory(final), user)


def stage_upload(session: Session, filename: str, data: bytes, user: User) -> ProblemVersion:
    """Stage an uploaded .zip/.tar(.gz) package without validating it (not committed)."""
    try:
        files = read_archive(filename, data, PACKAGE_LIMITS)
    except SubmissionError as exc:
        raise ProblemError(f"{filename}: {exc}") from None
    return stage_files(session, files, user)


def package_files(version: ProblemVersion) -> dict[str, bytes]:
    """The files of a stored version."""
    return read_archive("package.tar.gz", version.archive, PACKAGE_LIMITS)


def editable_texts(version: ProblemVersion) -> dict[str, str]:
    """The browser-editable files of a version, as text."""
    files = package_files(version)
    return {name: files.get(name, b"").decode("utf-8", "replace") for name in EDITABLE}


def stage_edit(
    session: Session, version: ProblemVersion, edits: dict[str, str], user: User
) -> ProblemVersion:
    """A new version from `version` with some editable files replaced (not committed)."""
    files = package_files(version)
    for name, text in edits.items():
        if name not in EDITABLE:
            raise ProblemError(f"{name}: not editable in the browser; upload a package instead")
        data = text.replace("\r\n", "\n").encode("utf-8")
        if len(data) > MAX_EDIT_BYTES:
            raise ProblemError(f"{name}: too large to edit here (at most {MAX_EDIT_BYTES} bytes)")
        if data.strip() or name in files:
            files[name] = data
    return stage_files(session, files, user)


def needs_validation(version: ProblemVersion) -> bool:
    """Whether a version has no finished (or running) validation."""
    state = (version.validation or {}).get("state")
    return version.validation is None or state == "error"


def mark_running(version: ProblemVersion) -> None:
    """Record that a validation has started (not committed)."""
    version.validation = {"state": "running", "ok": False, "started_at": utcnow().isoformat()}


def _finite(value: Any) -> Any:
    # JSON columns on Postgres reject Infinity/NaN (a margin is infinite when the accepted
    # solutions match exactly); store them as strings the page shows as they are.
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else ("-inf" if value < 0 else "nan")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def run_validation(settings: Settings, version_id: int, validator: Validator | None = None) -> None:
    """Validate a stored version and save the report (commits). Meant for a background thread."""
    url = settings.effective_database_url
    report: dict[str, Any]
    try:
        with session_scope(url) as session:
            version = session.get(ProblemVersion, version_id)
            if version is None:
                return
            loaded = problem_service.load_version(settings, version)
        if validator is None:
            from core.grading import validate

            validator = validate
        report = _finite(validator(loaded, settings=settings).model_dump(mode="json"))
        report["state"] = "done"
    except Exception as exc:
        log.exception("validation of version %s failed", version_id)
        report = {"state": "error", "ok": False, "errors": [f"validation could not run: {exc}"]}
    report["finished_at"] = utcnow().isoformat()
    with session_scope(url) as session:
        version = session.get(ProblemVersion, version_id)
        if version is not None:
            version.validation = report
            session.commit()

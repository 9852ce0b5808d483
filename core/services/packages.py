"""The package service: one way in for a problem package, one way to validate it.

An archive uploaded over the API or the pages and a package edited in the browser are staged
by the same calls here, and every validation runs on a worker (the `tensorjudge.validate`
task, see core.services.broker), in the embedded default as in docker-compose: the API
process never runs package code, so it needs no sandbox, and the state lives in the
database, not in one web process.

A version's `validation` (a JSON column) goes through ValidationState:

    None                                never validated (e.g. staged from a folder)
    {"state": "pending", "ok": false}   requested; `queued_at`, and `started_at` once a worker runs it
    {"state": "done", "ok": ...}        core.grading.validate's report, plus `finished_at`
    {"state": "error", "ok": false}     it could not run (sandbox or queue down): validate again

Front ends: stage (or request_validation), commit, then send the task for `version.id` to
`validation_queue(version)`; if the queue is unreachable, record_dispatch_failure. Publishing
(core.services.problems.publish) refuses a version that is not validated ok unless forced.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db.base import utcnow
from core.db.models import Problem, ProblemVersion, User
from core.errors import ProblemError, SubmissionError
from core.jsonsafe import json_safe
from core.services import problems as problem_service
from core.services.broker import queue_for
from core.services.errors import NotFoundError
from core.services.problems import PACKAGE_LIMITS, ValidationState, validation_state
from core.services.uploads import is_archive, read_archive, strip_server_paths, write_tree
from core.settings import REPO_ROOT, Settings

log = logging.getLogger(__name__)

# Files an instructor may edit in the browser; everything else in the package is kept as is.
EDITABLE = ("problem.toml", "statement.md", "starter.py", "reference.py", "driver.py")
MAX_EDIT_BYTES = 512 * 1024
_PATH_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Staged:
    """A staged version, whether a validation task must be sent for it after commit, and
    whether it was already stored (an identical re-upload stores nothing)."""

    version: ProblemVersion
    validate: bool
    unchanged: bool = False


def check_package_size(filename: str, data: bytes) -> None:
    """Refuse an archive over PACKAGE_LIMITS.max_bytes (read at most max_bytes + 1)."""
    if len(data) > PACKAGE_LIMITS.max_bytes:
        raise ProblemError(f"{filename}: package too large: at most {PACKAGE_LIMITS.max_bytes} bytes")


def _check_slug(slug: str, folder: str | None, expected_slug: str | None) -> None:
    if folder is not None and folder != slug:
        raise ProblemError(f"the package folder is named {folder!r} but problem.toml says slug = {slug!r}: "
                           "rename one of them so that they match")
    if expected_slug is not None and slug != expected_slug:
        raise ProblemError(f"problem.toml says slug = {slug!r}, but this is problem {expected_slug!r}: "
                           f"a new version must keep slug = {expected_slug!r} (upload a package with "
                           "another slug from the instructor page to make a new problem)")


def stage_files(session: Session, files: dict[str, bytes], user: User, expected_slug: str | None = None) -> Staged:
    """Load a package given as {path: bytes}, record it as a version and request its
    validation unless it already has one (not committed; same content, same version).

    The package's folder (when the archive has one) must be named after its slug, and with
    `expected_slug` (a new version of that problem) the slug must be that one. Messages name
    the package's own files, never the server's staging folder.
    """
    from core.problem import load_problem

    with tempfile.TemporaryDirectory(prefix="tj-package-") as tmpdir:
        try:
            write_tree(files, Path(tmpdir) / "pkg")
            root = problem_service.package_root(Path(tmpdir) / "pkg")
            slug = problem_service.load_problem_lenient(root)
            _check_slug(slug, None if root == Path(tmpdir) / "pkg" else root.name, expected_slug)
            # load_problem insists that the folder is named after the slug.
            final = Path(tmpdir) / "named" / slug
            shutil.copytree(root, final)
            loaded = load_problem(final)
        except ProblemError as exc:
            raise ProblemError(strip_server_paths(str(exc), tmpdir)) from None
        existing = session.scalar(
            select(ProblemVersion).join(Problem, Problem.id == ProblemVersion.problem_id)
            .where(Problem.slug == loaded.slug, ProblemVersion.content_hash == loaded.content_hash))
        version = existing or problem_service.stage(session, loaded, problem_service.pack_directory(final), user)
    validate = needs_validation(version)
    if validate:
        request_validation(version)
    return Staged(version, validate, unchanged=existing is not None)


def stage_upload(session: Session, filename: str, data: bytes, user: User,
                 expected_slug: str | None = None) -> Staged:
    """Stage an uploaded .zip/.tar(.gz) package (not committed)."""
    check_package_size(filename, data)
    if not is_archive(filename, data):
        raise ProblemError(f"{filename} is not a .zip or .tar.gz archive: pack the problem folder "
                           "(problem.toml, driver.py, ...) into one and upload that.")
    try:
        files = read_archive(filename, data, PACKAGE_LIMITS)
    except SubmissionError as exc:
        raise ProblemError(f"{filename}: {exc}") from None
    return stage_files(session, files, user, expected_slug)


def package_files(version: ProblemVersion) -> dict[str, bytes]:
    """The files of a stored version."""
    return read_archive("package.tar.gz", version.archive, PACKAGE_LIMITS)


def editable_texts(version: ProblemVersion) -> dict[str, str]:
    """The browser-editable files of a version, as text."""
    files = package_files(version)
    return {name: files.get(name, b"").decode("utf-8", "replace") for name in EDITABLE}


def stage_edit(session: Session, version: ProblemVersion, edits: dict[str, str], user: User) -> Staged:
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
    return stage_files(session, files, user, expected_slug=version.problem.slug)


def check_package_path(path: str) -> str:
    """A file path inside a package as typed in the browser, normalised (a/b.py), or
    ProblemError: no absolute path, no '..', no hidden or cache files, plain names only."""
    raw = path.strip().replace("\\", "/")
    if not raw:
        raise ProblemError("give the file's path inside the package, e.g. solutions/accepted/fast.py")
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
        raise ProblemError(f"{path!r}: absolute paths are not allowed; give a path inside the package")
    parts = [p for p in PurePosixPath(raw).parts if p not in ("", ".")]
    if ".." in parts:
        raise ProblemError(f"{path!r}: '..' is not allowed; the file must stay inside the package")
    if not parts or len(parts) > PACKAGE_LIMITS.max_depth:
        raise ProblemError(f"{path!r}: at most {PACKAGE_LIMITS.max_depth} folders deep")
    for part in parts:
        if part.startswith(".") or part == "__pycache__" or part.endswith(".pyc"):
            raise ProblemError(f"{path!r}: hidden files and caches are not part of a package")
        if not _PATH_SEGMENT.match(part) or len(part) > 100:
            raise ProblemError(f"{path!r}: use letters, digits, '_', '-' and '.' in file names")
    return "/".join(parts)


def package_listing(version: ProblemVersion) -> list[tuple[str, int, bool]]:
    """(path, size in bytes, editable as text) for every file of a stored version, by path."""
    files = package_files(version)
    return [(path, len(data), _is_text(data)) for path, data in sorted(files.items())]


def package_text(version: ProblemVersion, path: str) -> str | None:
    """One file of a version as text; None when the version has no such file.
    ProblemError for a binary file (not editable in the browser)."""
    data = package_files(version).get(check_package_path(path))
    if data is None:
        return None
    if not _is_text(data):
        raise ProblemError(f"{path}: not a text file; upload a package to change it")
    return data.decode("utf-8")


def stage_file_change(session: Session, version: ProblemVersion, user: User, path: str,
                      text: str | None) -> Staged:
    """A new version from `version` with one file written (`text`), created, or deleted
    (`text` None), checked and staged as uploads are (not committed)."""
    files = package_files(version)
    name = check_package_path(path)
    if text is None:
        if name not in files:
            raise ProblemError(f"{name}: no such file in version {version.id}")
        del files[name]
    else:
        data = text.replace("\r\n", "\n").encode("utf-8")
        if len(data) > MAX_EDIT_BYTES:
            raise ProblemError(f"{name}: too large to edit here (at most {MAX_EDIT_BYTES} bytes)")
        if name not in files and len(files) >= PACKAGE_LIMITS.max_files:
            raise ProblemError(f"a package holds at most {PACKAGE_LIMITS.max_files} files")
        files[name] = data
    return stage_files(session, files, user, expected_slug=version.problem.slug)


def _is_text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in data


def _without_server_paths(value: Any, settings: Settings) -> Any:
    """A report with every string cleared of the server's folders (data dir, problems dir)."""
    if isinstance(value, str):
        return strip_server_paths(value, settings.data_dir, settings.problems_dir, REPO_ROOT)
    if isinstance(value, list):
        return [_without_server_paths(v, settings) for v in value]
    if isinstance(value, dict):
        return {k: _without_server_paths(v, settings) for k, v in value.items()}
    return value


def needs_validation(version: ProblemVersion) -> bool:
    """Whether a version has neither a report nor a validation under way."""
    return validation_state(version) in (None, ValidationState.ERROR)


def request_validation(version: ProblemVersion) -> None:
    """Mark a version as waiting for a worker's validation (not committed); the caller sends
    the task after committing (a repeated request only validates again)."""
    version.validation = {"state": ValidationState.PENDING.value, "ok": False, "errors": [],
                          "queued_at": utcnow().isoformat()}


def validation_queue(version: ProblemVersion) -> str:
    """The worker queue that validates a version: gpu when a case needs CUDA."""
    return queue_for(version.needs_gpu)


def record_dispatch_failure(version: ProblemVersion, exc: BaseException) -> str:
    """The queue could not take the task: record state error so that the version can be
    validated again (not committed). Returns the message for the user."""
    reason = strip_server_paths(str(exc), REPO_ROOT)  # an embedded broker's error may name its folder
    message = f"version {version.id} was stored but the validation queue is unreachable ({reason}); validate it again"
    version.validation = {"state": ValidationState.ERROR.value, "ok": False, "errors": [message]}
    return message


def run_validation(session: Session, settings: Settings, version_id: int) -> dict[str, Any]:
    """The worker's side: run every known solution of a stored version and store the report
    (commits, twice: `started_at`, then the report). Any failure to run becomes state error,
    never a version left pending; running it again simply rewrites the report."""
    from core.grading import validate

    version = session.get(ProblemVersion, version_id)
    if version is None:
        raise NotFoundError(f"no problem version {version_id}")
    started = utcnow().isoformat()
    version.validation = {**(version.validation or {}), "state": ValidationState.PENDING.value,
                          "ok": False, "started_at": started}
    session.commit()
    report: dict[str, Any]
    try:
        report = validate(problem_service.load_version(settings, version), settings=settings).model_dump(mode="json")
        report["state"] = ValidationState.DONE.value
    except Exception as exc:  # whatever stops it (sandbox down, a time limit) is the report
        log.exception("validation of version %s could not run", version_id)
        report = {"state": ValidationState.ERROR.value, "ok": False, "errors": [f"validation could not run: {exc}"]}
    report = _without_server_paths(report, settings)
    report.update(started_at=started, finished_at=utcnow().isoformat())
    version.validation = json_safe(report)
    session.commit()
    return version.validation

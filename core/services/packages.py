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
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from core.db.base import utcnow
from core.db.models import ProblemVersion, User
from core.errors import ProblemError, SubmissionError
from core.jsonsafe import json_safe
from core.services import problems as problem_service
from core.services.broker import queue_for
from core.services.errors import NotFoundError
from core.services.problems import PACKAGE_LIMITS, ValidationState, validation_state
from core.services.uploads import read_archive, write_tree
from core.settings import Settings

log = logging.getLogger(__name__)

# Files an instructor may edit in the browser; everything else in the package is kept as is.
EDITABLE = ("problem.toml", "statement.md", "starter.py", "reference.py", "driver.py")
MAX_EDIT_BYTES = 512 * 1024


@dataclass(frozen=True)
class Staged:
    """A staged version, and whether a validation task must be sent for it after commit."""

    version: ProblemVersion
    validate: bool


def check_package_size(filename: str, data: bytes) -> None:
    """Refuse an archive over PACKAGE_LIMITS.max_bytes (read at most max_bytes + 1)."""
    if len(data) > PACKAGE_LIMITS.max_bytes:
        raise ProblemError(f"{filename}: package too large: at most {PACKAGE_LIMITS.max_bytes} bytes")


def stage_files(session: Session, files: dict[str, bytes], user: User) -> Staged:
    """Load a package given as {path: bytes}, record it as a version and request its
    validation unless it already has one (not committed; same content, same version)."""
    from core.problem import load_problem

    with tempfile.TemporaryDirectory(prefix="tj-package-") as tmpdir:
        write_tree(files, Path(tmpdir) / "pkg")
        root = problem_service.package_root(Path(tmpdir) / "pkg")
        # load_problem insists that the folder is named after the slug.
        final = Path(tmpdir) / "named" / problem_service.load_problem_lenient(root)
        shutil.copytree(root, final)
        try:
            loaded = load_problem(final)
        except ProblemError as exc:
            # Name the package's own files, never the server's staging folder.
            raise ProblemError(str(exc).replace(f"{final}/", "").replace(str(final), final.name)) from None
        version = problem_service.stage(session, loaded, problem_service.pack_directory(final), user)
    validate = needs_validation(version)
    if validate:
        request_validation(version)
    return Staged(version, validate)


def stage_upload(session: Session, filename: str, data: bytes, user: User) -> Staged:
    """Stage an uploaded .zip/.tar(.gz) package (not committed)."""
    check_package_size(filename, data)
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
    return stage_files(session, files, user)


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
    message = f"version {version.id} was stored but the validation queue is unreachable ({exc}); validate it again"
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
    report.update(started_at=started, finished_at=utcnow().isoformat())
    version.validation = json_safe(report)
    session.commit()
    return version.validation

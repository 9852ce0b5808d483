"""Problem packages for both front ends: the API routes and the instructor pages stage an
upload or an edit, and ask for a validation, through these same calls (and so through the
same core.services.packages calls and the same worker task)."""

from __future__ import annotations

from collections.abc import Callable

import anyio
from fastapi import UploadFile
from sqlalchemy.orm import Session

from api.dispatch import Dispatcher
from core.db.models import ProblemVersion, User
from core.services import packages
from core.services.errors import ServiceUnavailableError
from core.services.problems import PACKAGE_LIMITS


async def upload(session: Session, user: User, dispatcher: Dispatcher, package: UploadFile,
                 expected_slug: str | None = None) -> packages.Staged:
    """Stage an uploaded archive as a version and have a worker validate it (with
    `expected_slug`, only as a new version of that problem)."""
    name = package.filename or "package.zip"
    data = await package.read(PACKAGE_LIMITS.max_bytes + 1)
    packages.check_package_size(name, data)
    return await _stage(session, dispatcher,
                        lambda: packages.stage_upload(session, name, data, user, expected_slug))


async def edit(
    session: Session, user: User, dispatcher: Dispatcher, base: ProblemVersion, edits: dict[str, str]
) -> packages.Staged:
    """Stage `base` with some editable files replaced as a new version and validate it."""
    return await _stage(session, dispatcher, lambda: packages.stage_edit(session, base, edits, user))


async def change_file(session: Session, user: User, dispatcher: Dispatcher, base: ProblemVersion, path: str,
                      text: str | None) -> packages.Staged:
    """Stage `base` with one file written, created or (text None) deleted as a new version,
    and validate it on a worker."""
    return await _stage(session, dispatcher, lambda: packages.stage_file_change(session, base, user, path, text))


def validate_again(session: Session, dispatcher: Dispatcher, version: ProblemVersion) -> None:
    """Have a worker validate a stored version (again)."""
    packages.request_validation(version)
    session.commit()
    _send(session, dispatcher, version)


async def _stage(session: Session, dispatcher: Dispatcher, stage: Callable[[], packages.Staged]) -> packages.Staged:
    def run() -> packages.Staged:
        staged = stage()
        session.commit()
        return staged

    # Loading a package reads and checks every file: keep it off the event loop.
    staged = await anyio.to_thread.run_sync(run)
    if staged.validate:  # publishing, off the event loop too (a slow broker holds this request only)
        await anyio.to_thread.run_sync(lambda: _send(session, dispatcher, staged.version))
    return staged


def _send(session: Session, dispatcher: Dispatcher, version: ProblemVersion) -> None:
    # After the commit, so the worker finds the version; a queue that cannot take the task
    # leaves the version in state error (validate again), never pending for nobody.
    try:
        dispatcher.validate(version.id, packages.validation_queue(version))
    except Exception as exc:  # noqa: BLE001 - a broker fails in many ways
        message = packages.record_dispatch_failure(version, exc)
        session.commit()
        raise ServiceUnavailableError(message) from None

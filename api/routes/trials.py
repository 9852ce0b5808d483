"""Trial runs: grade a solution on the public cases only, with full feedback, without it
counting as a submission (never on a leaderboard, in the history or in grades)."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import JSONResponse

from api.deps import CurrentUser, DispatcherDep, SessionDep, SettingsDep
from api.errors import retry_after
from api.routes.submissions import _read_uploads, enqueue_all, to_public
from api.schemas import SubmissionPublic
from core.db.models import Submission
from core.services import submissions as service
from core.services import trials

router = APIRouter(prefix="/trials", tags=["submissions"])


@router.post("", status_code=201, response_model=SubmissionPublic)
async def run_trial(
    problem: Annotated[str, Form(description="the problem's slug", max_length=64)],
    files: Annotated[list[UploadFile], File(description="one file, several files, or one zip/tar")],
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    dispatcher: DispatcherDep,
) -> Any:
    """Queue a trial run on the public cases; follow it at GET /submissions/{id} (kind
    "trial"). At most TENSORJUDGE_TRIAL_RUNS_PER_WINDOW per TENSORJUDGE_TRIAL_WINDOW_S
    seconds per user (429 with Retry-After past that)."""
    limits = service.upload_limits(settings)
    uploads = await _read_uploads(files, limits.max_bytes)

    def _store() -> Submission:
        trial = trials.create_trial(session, settings, user, problem, uploads, limits)
        session.commit()
        return trial

    trial = await anyio.to_thread.run_sync(_store)
    if await anyio.to_thread.run_sync(lambda: enqueue_all(dispatcher, [service.job_of(trial)])):
        return JSONResponse({"detail": f"trial run {trial.id} was saved but the grading queue is unreachable; "
                             "it will run when the queue is back", "id": trial.id}, status_code=503,
                            headers=retry_after())
    return to_public(trial)

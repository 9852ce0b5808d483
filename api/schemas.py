"""Request and response models of the JSON API (XCreate / XUpdate / XPublic)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.db.models import Role


class Message(BaseModel):
    """A plain message (and the shape of every error: {"detail": "..."})."""

    detail: str


class LoginRequest(BaseModel):
    """Name and password."""

    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenPublic(BaseModel):
    """A freshly issued API token (shown once)."""

    token: str
    token_type: str = "bearer"
    user: UserPublic


class UserPublic(BaseModel):
    """A user as the API shows it."""

    id: int
    name: str
    role: Role
    is_active: bool
    created_at: datetime

    model_config = {"from_attributes": True}


class TokenCreate(BaseModel):
    """A label for a new token of one's own (e.g. "laptop CLI")."""

    label: str = Field(default="", max_length=64)


class TokenInfo(BaseModel):
    """One of the caller's tokens, without the token itself (it is shown only once)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    label: str
    created_at: datetime
    last_used_at: datetime | None


class UserCreate(BaseModel):
    """A new user; without a password the user logs in with tokens only."""

    name: str = Field(min_length=1, max_length=64)
    role: Role = Role.STUDENT
    password: str | None = Field(default=None, max_length=256)


class UserUpdate(BaseModel):
    """Changes to a user."""

    role: Role | None = None
    is_active: bool | None = None
    password: str | None = Field(default=None, max_length=256)


class ProblemSummary(BaseModel):
    """A problem in the list."""

    slug: str
    title: str
    published: bool
    max_score: float
    needs_gpu: bool
    version: str | None


class ProblemDetail(ProblemSummary):
    """A problem with its statement, limits and public cases."""

    statement: str
    module: str
    entry_points: list[str]
    limits: dict[str, Any]
    cases: list[dict[str, Any]]
    starter_url: str


class VersionPublic(BaseModel):
    """One stored version of a problem package."""

    id: int
    number: int = Field(description="the version's number within its problem: 1 for the first upload, then 2, ...")
    content_hash: str
    title: str
    created_at: datetime
    current: bool
    validation: dict[str, Any] | None


class UploadResult(BaseModel):
    """An uploaded package: the staged version and its validation report."""

    problem: str
    version: VersionPublic
    validation: dict[str, Any]
    publish_url: str
    unchanged: bool = False  # an identical package was already stored: nothing new
    message: str = ""


class PublishRequest(BaseModel):
    """Which version to publish (default: the newest); force skips the validation gate."""

    version_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    force: bool = False


class CasePublic(BaseModel):
    """One case result; hidden cases carry no feedback and no stdout."""

    name: str
    visibility: str
    verdict: str
    points: float
    max_points: float
    message: str = ""
    timings: dict[str, Any] | None = None
    feedback: dict[str, Any] | None = None
    stdout: str | None = None


class Progress(BaseModel):
    """Case `done` of `total`."""

    done: int
    total: int


class QueuePlace(BaseModel):
    """Where a queued submission stands: `position` submissions of its queue are claimed
    before it; `estimated_wait_s` is None while no worker serving the queue is alive."""

    queue: str
    lane: str
    position: int
    estimated_wait_s: float | None
    workers: int


class RejudgeNotice(BaseModel):
    """A rejudge changed this submission's verdict or score: when, and what it was before."""

    at: datetime
    was_verdict: str | None
    was_score: float | None


class SubmissionPublic(BaseModel):
    """A submission with its verdict, per-case results and progress. `status` is queued,
    running, done, failed or superseded (a newer submission replaced it before grading)."""

    id: int
    problem: str
    user: str
    status: str
    verdict: str | None
    score: float | None
    max_score: float | None
    speed_ratio: float | None
    message: str
    attempts: int
    progress: Progress
    problem_version: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    files: list[str]
    graded: dict[str, str] = {}  # entry point -> "src/functional.py:matmul_with_importance"
    notes: list[str] = []  # how the submission's files were laid out and loaded
    cases: list[CasePublic]
    queue: QueuePlace | None = None  # while queued
    superseded_by: int | None = None
    rejudged: RejudgeNotice | None = None
    kind: str = "submission"  # or "trial": a run on the public cases that does not count


class JobsQueued(BaseModel):
    """Submissions put back on the queue."""

    queued: list[int]


TokenPublic.model_rebuild()

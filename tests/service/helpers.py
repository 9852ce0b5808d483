"""Small factories and fakes shared by the service tests."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from core.db.models import Role
from core.report import CaseReport, GradeReport
from core.services import problems as problem_service
from core.services import users as user_service
from core.services.submissions import Job
from core.settings import Settings
from core.verdicts import Verdict

FIXTURES = Path(__file__).parent / "fixtures"
TINY = FIXTURES / "tiny-add"


@dataclass
class RecordingDispatcher:
    """Stands in for the broker in API tests: records jobs; tests run them inline."""

    jobs: list[Job] = field(default_factory=list)
    validations: list[int] = field(default_factory=list)
    up: bool = True

    def enqueue(self, job: Job) -> None:
        """Record the job (or fail like an unreachable broker)."""
        if not self.up:
            raise ConnectionError("broker down")
        self.jobs.append(job)

    def validate(self, version_id: int, queue: str) -> None:
        """Record a validation request."""
        if not self.up:
            raise ConnectionError("broker down")
        self.validations.append(version_id)

    def ping(self) -> bool:
        """Whether the pretend broker is up."""
        return self.up


def fake_grade(problem, files, *, settings, progress=None) -> GradeReport:  # type: ignore[no-untyped-def]
    """A grader for API tests: 'a + b' in the source is accepted, anything else is wrong."""
    source = b"".join(files.values())
    ok = b"a + b" in source
    cases = []
    for i, case in enumerate(problem.config.cases):
        verdict = Verdict.ACCEPTED if ok else Verdict.WRONG_ANSWER
        cases.append(
            CaseReport(
                name=case.name,
                visibility=case.visibility,
                verdict=verdict,
                points=case.points if ok else 0.0,
                max_points=case.points,
                message="" if ok else "values differ",
                feedback=None if ok else {"check": "value", "max_abs_error": 1.0},
            )
        )
        if progress:
            progress(i + 1, len(problem.config.cases))
    score = sum(c.points for c in cases)
    return GradeReport(
        problem=problem.slug,
        problem_version=problem.content_hash,
        verdict=GradeReport.overall([c.verdict for c in cases]),
        score=score,
        max_score=problem.max_score,
        speed_ratio=1.0 if ok else None,
        cases=cases,
    )


def make_settings(data_dir: Path, database_url: str = "", broker_url: str = "") -> Settings:
    """Settings for one test: its own data dir, the fixture problems, a fixed secret."""
    return Settings(
        env="test",
        data_dir=data_dir,
        problems_dir=FIXTURES,
        database_url=database_url,
        broker_url=broker_url,
        secret_key="test-secret-not-for-production",
        sandbox="process",
        task_retry_backoff_s=0.1,
        sse_poll_interval_s=0.05,
    )


def add_user(session: Session, name: str, role: Role = Role.STUDENT, password: str | None = None) -> str:
    """Create a user and return an API token for them."""
    user = user_service.create_user(session, name, role, password)
    token = user_service.issue_token(session, user)
    session.commit()
    return token


def publish_tiny(session: Session) -> None:
    """Stage and publish the tiny-add fixture problem."""
    problem_service.stage_directory(session, TINY)
    problem_service.publish(session, "tiny-add")
    session.commit()


def auth(token: str) -> dict[str, str]:
    """The Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}


def copy_fixture(dest: Path) -> Path:
    """A writable copy of the tiny-add package under dest."""
    target = dest / "tiny-add"
    shutil.copytree(TINY, target)
    return target

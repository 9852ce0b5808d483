"""Shared pieces of the web tests: settings, seeded users and problems, an in-process worker."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from core.db.base import session_scope
from core.db.migrate import upgrade
from core.db.models import Role
from core.report import CaseReport, GradeReport
from core.services import judging
from core.services import problems as problem_service
from core.services import users as user_service
from core.services.submissions import Job
from core.settings import REPO_ROOT, Settings
from core.verdicts import Verdict

log = logging.getLogger(__name__)

FIXTURES = Path(__file__).parent / "fixtures"
WEB_SCALE = FIXTURES / "web-scale"
BUNDLED = REPO_ROOT / "problems" / "multi-head-matmul"

PASSWORDS = {
    "alice": "alice-password",
    "bob": "bob-password",
    "ines": "ines-password",
    "ada": "ada-password",
}
ROLES = {"alice": Role.STUDENT, "bob": Role.STUDENT, "ines": Role.INSTRUCTOR, "ada": Role.ADMIN}


def make_settings(data_dir: Path, grader: str = "core.grading:grade") -> Settings:
    """Settings for one test app: its own data dir and database, a fixed secret."""
    return Settings(
        env="test",
        data_dir=data_dir,
        problems_dir=FIXTURES,
        secret_key="web-test-secret-not-for-production",
        sandbox="process",
        grader=grader,
        task_retry_backoff_s=0.1,
        sse_poll_interval_s=0.1,
    )


def seed(settings: Settings, publish_bundled: bool = True) -> dict[str, str]:
    """Migrate, add the four users and publish the fixture problem (and a bundled one).
    Returns an API token per user name."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)
    tokens = {}
    with session_scope(settings.effective_database_url) as session:
        for name, password in PASSWORDS.items():
            user = user_service.create_user(session, name, ROLES[name], password)
            tokens[name] = user_service.issue_token(session, user, "web tests")
        problem_service.stage_directory(session, WEB_SCALE)
        problem_service.publish(session, "web-scale")
        if publish_bundled:
            problem_service.stage_directory(session, BUNDLED)
            problem_service.publish(session, BUNDLED.name)
        session.commit()
    return tokens


@dataclass
class ThreadDispatcher:
    """An embedded grading worker for the fast HTTP tests: runs each job in one background
    thread, in order, with the same judging.run_job the Celery task uses."""

    settings: Settings

    def __post_init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tj-test-worker")
        self.jobs: list[Job] = []
        self._lock = threading.Lock()

    def enqueue(self, job: Job) -> None:
        """Run the job soon, in the worker thread."""
        with self._lock:
            self.jobs.append(job)
        self._pool.submit(self._run, job)

    def _run(self, job: Job) -> None:
        for _attempt in range(3):
            try:
                judging.run_job(self.settings, job.submission_id, job.job, "test-worker")
                return
            except Exception:
                log.exception("grading submission %s failed", job.submission_id)

    def validate(self, version_id: int, queue: str) -> None:
        """Refuse like an unreachable queue: validation only ever runs on a real worker (the
        tests that validate start one, see conftest.worker_app)."""
        raise ConnectionError("no validation worker in this test app")

    def ping(self) -> bool:
        """Always up."""
        return True

    def shutdown(self) -> None:
        """Wait for running jobs, drop queued ones."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def fake_grade(problem, files, *, settings, progress=None) -> GradeReport:  # type: ignore[no-untyped-def]
    """A fast grader for the plain HTTP tests: 'alpha' in the source is accepted; anything
    else fails the public case with value feedback and a heat map. (The browser tests grade
    for real in the sandbox.)"""
    ok = b"x * alpha" in b"".join(files.values())
    cases = []
    total = len(problem.config.cases)
    for i, case in enumerate(problem.config.cases):
        feedback = None
        if not ok and case.visibility == "public":
            feedback = {
                "check": "value",
                "output": "y",
                "max_abs_error": 1.0,
                "max_rel_error": 0.5,
                "atol": 1e-5,
                "rtol": 1e-5,
                "shape": [12, 20],
                "dtype": "float32",
                "mismatches": 12,
                "first_indices": [[9, 16], [9, 17]],
                "heatmap": [[0.1] * 10 + [1e5] * 2 for _ in range(6)],
            }
        cases.append(
            CaseReport(
                name=case.name,
                visibility=case.visibility,
                verdict=Verdict.ACCEPTED if ok else Verdict.WRONG_ANSWER,
                points=case.points if ok else 0.0,
                max_points=case.points,
                message="" if ok else "`y`: 12 of 240 values outside tolerance",
                feedback=feedback,
            )
        )
        if progress:
            progress(i + 1, total)
    return GradeReport(
        problem=problem.slug,
        problem_version=problem.content_hash,
        verdict=GradeReport.overall([c.verdict for c in cases]),
        score=sum(c.points for c in cases),
        max_score=problem.max_score,
        speed_ratio=1.3 if ok else None,
        cases=cases,
        wall_s=0.01,
    )

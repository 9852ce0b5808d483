"""`tensorjudge submit` sends an Idempotency-Key and keeps it across its own retries, so a
retry after a 503 never makes a second submission (against the real app, SQLite)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.main import create_app
from cli.remote import post_submission, queue_line
from core.db.models import Submission
from core.settings import Settings

from .helpers import RecordingDispatcher, add_user, auth, publish_tiny

GOOD = b"def add(a, b):\n    return a + b\n"


class FlakyDispatcher(RecordingDispatcher):
    """The queue is unreachable for the first publish only."""

    def enqueue(self, job):  # type: ignore[no-untyped-def]
        """Fail once, then record."""
        if not self.jobs and not getattr(self, "failed_once", False):
            self.failed_once = True
            raise ConnectionError("broker down")
        super().enqueue(job)


def test_a_retried_submit_reuses_its_key_and_makes_one_submission(settings: Settings, session: Session) -> None:
    from fastapi.testclient import TestClient

    publish_tiny(session)
    token = add_user(session, "ada")
    dispatcher = FlakyDispatcher()
    with TestClient(create_app(settings, dispatcher), base_url="http://testserver/api/v1",
                    headers=auth(token), raise_server_exceptions=False) as client:
        sub = post_submission(client, "tiny-add", [("files", ("s.py", GOOD))])
    assert sub["status"] == "queued" and sub["queue"]["position"] == 0
    assert session.scalar(select(func.count()).select_from(Submission)) == 1  # the 503 and the retry: one row
    assert [j.submission_id for j in dispatcher.jobs] == [sub["id"]]  # the retry sent its turn
    assert queue_line(sub) == f"submission {sub['id']} queued: 0 ahead (live lane), no worker online yet"

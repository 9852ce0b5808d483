"""Kinds of submission rows: a counted submission, or a trial run on the public cases (which
leaderboards, the history, best submissions, grades and quotas leave out). No other service
is imported here, so any of them can use the filter."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import ColumnElement

from core.db.models import Submission


class Kind(StrEnum):
    """What a submission row is."""

    SUBMISSION = "submission"
    TRIAL = "trial"


def counted() -> ColumnElement[bool]:
    """The filter for rows that count (boards, history, best, grades, quotas): not trials."""
    return Submission.kind != Kind.TRIAL.value


def is_trial(submission: Submission) -> bool:
    """Whether a submission row is a trial run."""
    return submission.kind == Kind.TRIAL.value

"""Exceptions: infrastructure failures (retried) are kept apart from user-facing errors."""

from __future__ import annotations


class TensorJudgeError(Exception):
    """An error whose message is safe to show to the user who caused it."""


class ProblemError(TensorJudgeError):
    """A problem package is broken; the message names the file and the field."""


class SubmissionError(TensorJudgeError):
    """An upload is malformed (too big, too many files, bad paths, bad archive)."""


class InfrastructureError(Exception):
    """The judge itself failed (sandbox unavailable, reference crashed, ...): retried."""


class SandboxUnavailableError(InfrastructureError):
    """No usable sandbox backend: the judge refuses to run student code unsandboxed."""

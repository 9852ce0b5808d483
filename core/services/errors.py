"""Service-level errors, all safe to show to the user; the API maps each to a status code."""

from __future__ import annotations

from core.errors import TensorJudgeError


class NotFoundError(TensorJudgeError):
    """The thing asked for does not exist, or the caller may not know that it does."""


class ConflictError(TensorJudgeError):
    """The request clashes with the current state (a duplicate name, an unvalidated version)."""


class ForbiddenError(TensorJudgeError):
    """The caller is known but not allowed to do this."""


class AuthError(TensorJudgeError):
    """Missing, malformed or wrong credentials."""


class ServiceUnavailableError(TensorJudgeError):
    """A dependency (the broker) is down; the request may be retried later."""


class TooManyAttemptsError(TensorJudgeError):
    """Too many failed sign-ins for this name from this client; retry after `retry_after_s`."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

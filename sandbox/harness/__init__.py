"""The harness that runs inside the sandbox.

Drivers import these names through the authoring kit (`from sandbox import kit`), which
re-exports them; they stay defined here because the harness catches them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class WrongAnswer(Exception):
    """Raised by a driver when a submission returns something of the wrong structure."""


class RuleViolation(BaseException):
    """A forbidden call. A BaseException so a student's `except Exception` cannot swallow it."""


@dataclass
class CaseContext:
    """What a driver sees of a case."""

    name: str
    params: dict[str, Any]
    dtype: Any  # torch.dtype
    device: str
    visibility: str
    seed: int
    mutable_inputs: list[str] = field(default_factory=list)

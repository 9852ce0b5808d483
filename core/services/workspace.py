"""What a student works with on a problem: the files the editor starts from, and the checks
that refuse a solution before it is graded (an empty file, no file for the graded module)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, distinct, func, select
from sqlalchemy.orm import Session, selectinload

from core.db.models import Problem, ProblemVersion, Submission, SubmissionStatus, User
from core.errors import TensorJudgeError
from core.services.kinds import counted

MAX_EDITOR_FILES = 16
MAX_EDITOR_FILE_BYTES = 256 * 1024


class SolutionRefused(TensorJudgeError):
    """A solution that cannot be meant as one (empty, or without the module the problem
    grades): refused at submit (400) instead of graded."""


@dataclass(frozen=True)
class EditorFile:
    """One tab of the editor."""

    path: str
    text: str


def module_paths(summary: dict[str, Any]) -> list[str]:
    """The files the problem grades, e.g. ["src/functional.py", "src/modeling/pos_emb.py"]:
    the first module of each entry point, then the declared module."""
    modules: list[str] = []
    for entry in summary.get("entry_points") or []:
        first = str(entry).split("|", 1)[0]
        modules.append(first.split(":", 1)[0])
    modules.append(str(summary.get("module") or "solution"))
    return list(dict.fromkeys(m.replace(".", "/") + ".py" for m in modules if m))


def _module_candidates(summary: dict[str, Any]) -> set[str]:
    # Every module any alternative of any entry point may come from, as file paths.
    out: set[str] = set()
    for entry in summary.get("entry_points") or []:
        for alt in str(entry).split("|"):
            module = alt.split(":", 1)[0].strip().replace(".", "/")
            if module:
                out.update({module + ".py", module + "/__init__.py"})
    module = str(summary.get("module") or "").replace(".", "/")
    if module:
        out.update({module + ".py", module + "/__init__.py"})
    return out


def check_solution(files: dict[str, bytes], summary: dict[str, Any]) -> None:
    """Refuse an upload with no code in it, or several files none of which is a module the
    problem grades (a single file is installed as the problem's module whatever its name)."""
    python = {p: d for p, d in files.items() if p.endswith(".py")}
    if not python:
        names = ", ".join(sorted(files)[:3])
        raise SolutionRefused(f"no Python file in the submission ({names}): submit your .py file(s)")
    if not any(d.strip() for d in python.values()):
        which = next(iter(python)) if len(python) == 1 else "every .py file"
        raise SolutionRefused(f"{which} is empty: there is no code to grade")
    if len(files) == 1:
        return
    wanted = _module_candidates(summary)
    # A repository may sit in one top folder (assignment-main/src/...), as the grader allows.
    if not any(p in wanted or any(p.endswith("/" + w) for w in wanted) for p in python):
        expected = " or ".join(module_paths(summary)[:3])
        raise SolutionRefused(f"none of the submitted files is {expected}, the module this problem grades: "
                              "name your file that way, or submit that one file on its own")


def editor_files(session: Session, user: User, problem: Problem, version: ProblemVersion) -> list[EditorFile]:
    """What the editor opens with: the Python files of my latest attempt (submission or trial
    run), else the starter at the graded module's path."""
    last = session.scalar(
        select(Submission).where(Submission.user_id == user.id, Submission.problem_id == problem.id)
        .order_by(Submission.id.desc()).limit(1).options(selectinload(Submission.files)))
    if last is not None:
        files = [EditorFile(f.path, f.content.decode("utf-8", "replace")) for f in last.files
                 if f.path.endswith(".py") and len(f.content) <= MAX_EDITOR_FILE_BYTES]
        if files:
            return files[:MAX_EDITOR_FILES]
    return [EditorFile(module_paths(version.summary)[0], version.starter or "")]


def is_package_problem(summary: dict[str, Any]) -> bool:
    """Whether the problem grades a package (src/...) rather than one file: the editor then
    offers tabs for several files."""
    return any("/" in p for p in module_paths(summary))


@dataclass(frozen=True)
class Acceptance:
    """A problem's counted, finished submissions: how many, how many accepted, by how many users."""

    total: int
    accepted: int
    solvers: int

    @property
    def rate(self) -> float | None:
        """accepted / total, None before any submission was graded."""
        return self.accepted / self.total if self.total else None


def acceptance(session: Session) -> dict[int, Acceptance]:
    """problem id -> its acceptance figures (trial runs and unfinished submissions left out)."""
    accepted = Submission.verdict == "accepted"
    rows = session.execute(
        select(Submission.problem_id, func.count(Submission.id), func.sum(case((accepted, 1), else_=0)),
               func.count(distinct(case((accepted, Submission.user_id)))))
        .where(Submission.status == SubmissionStatus.DONE, counted())
        .group_by(Submission.problem_id)).all()
    return {pid: Acceptance(int(n), int(a or 0), int(s or 0)) for pid, n, a, s in rows}

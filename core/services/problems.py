"""Problems and their immutable versions: packing, storing, loading, publishing.

Staging uploads and edits and running validations is core.services.packages."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db.models import Problem, ProblemVersion, Role, User
from core.errors import ProblemError
from core.services import course_access
from core.services.errors import ConflictError, NotFoundError
from core.services.uploads import UploadLimits, read_archive, write_tree
from core.settings import Settings

if TYPE_CHECKING:
    from core.problem import Problem as LoadedProblem

_SKIP = {"__pycache__", ".git", ".pytest_cache", ".mypy_cache"}
PACKAGE_LIMITS = UploadLimits(max_bytes=50 * 1024 * 1024, max_files=500, max_depth=8)


def _inside(target: Path, root: Path) -> bool:
    return target.is_file() and target.is_relative_to(root)


def pack_directory(path: Path) -> bytes:
    """A deterministic tar.gz of a package folder (sorted, no mtimes or owners). A symlink to a
    file of a sibling package (bundled problems share one reference that way) is stored as that
    file's bytes; any other link is left out."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tf:
        for file in sorted(path.rglob("*")):
            rel = file.relative_to(path)
            if any(part in _SKIP for part in rel.parts) or file.suffix == ".pyc":
                continue
            if file.is_symlink() and not _inside(file.resolve(), path.resolve().parent):
                continue  # a bundled package may link to a sibling package's file, nothing else
            if not file.is_file():
                continue
            info = tarfile.TarInfo(rel.as_posix())
            data = file.read_bytes()
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def version_dir(settings: Settings, content_hash: str, slug: str) -> Path:
    """Where a version's package is unpacked: data_dir/problems/<hash>/<slug>."""
    return settings.data_dir / "problems" / content_hash / slug


def materialize(settings: Settings, version: ProblemVersion) -> Path:
    """Unpack a version's archive on this machine once (atomically) and return its folder."""
    slug = version.problem.slug
    target = version_dir(settings, version.content_hash, slug)
    if (target / "problem.toml").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
    try:
        write_tree(read_archive("package.tar.gz", version.archive, PACKAGE_LIMITS), tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "problem.toml").exists():  # lost a race only if the winner finished
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_version(settings: Settings, version: ProblemVersion) -> LoadedProblem:
    """The loaded problem for a stored version."""
    from core.problem import load_problem

    return load_problem(materialize(settings, version))


def summarize(problem: LoadedProblem) -> dict[str, Any]:
    """What students may see of a problem's configuration: limits and public cases."""
    config = problem.config
    cases = []
    for case in config.cases:
        entry: dict[str, Any] = {
            "name": case.name,
            "visibility": str(getattr(case.visibility, "value", case.visibility)),
            "points": float(case.points),
        }
        if entry["visibility"] == "public":
            entry.update(
                dtype=str(getattr(case, "dtype", "")),
                device=str(getattr(case, "device", "")),
                timed=bool(getattr(case, "timed", False)),
                params=dict(getattr(case, "params", {}) or {}),
            )
            tolerance = _tolerance(config, case)
            if tolerance is not None:
                entry.update(atol=tolerance.atol, rtol=tolerance.rtol)
        cases.append(entry)
    limits = config.limits.model_dump(mode="json") if hasattr(config, "limits") else {}
    timing = getattr(config, "timing", None)
    return {
        "budget_ratio": float(timing.budget_ratio) if timing is not None else None,
        "module": getattr(config, "module", ""),
        "entry_points": list(getattr(config, "entry_points", [])),
        "tags": list(getattr(config, "tags", [])),
        "difficulty": str(getattr(config, "difficulty", "")),
        "limits": limits,
        "cases": cases,
        "max_score": sum(c["points"] for c in cases),
    }


def _tolerance(config: Any, case: Any) -> Any:
    # The closeness test students are held to on a case (None for configs without one).
    lookup = getattr(config, "tolerance_for", None)
    return lookup(case) if callable(lookup) else None


def needs_gpu(problem: LoadedProblem) -> bool:
    """Whether any case must run on CUDA (routes its submissions to the gpu queue)."""
    return any(str(getattr(c, "device", "")) == "cuda" for c in problem.config.cases)


def stage(session: Session, loaded: LoadedProblem, archive: bytes, user: User | None = None) -> ProblemVersion:
    """Record a loaded package as a version of its problem (not committed; idempotent)."""
    problem = session.scalar(select(Problem).where(Problem.slug == loaded.slug))
    if problem is None:
        problem = Problem(slug=loaded.slug, title=loaded.title, published=False)
        session.add(problem)
        session.flush()
    existing = session.scalar(
        select(ProblemVersion).where(
            ProblemVersion.problem_id == problem.id,
            ProblemVersion.content_hash == loaded.content_hash,
        )
    )
    if existing is not None:
        return existing
    version = ProblemVersion(
        problem_id=problem.id,
        content_hash=loaded.content_hash,
        title=loaded.title,
        statement=loaded.statement or "",
        starter=loaded.starter or "",
        summary=summarize(loaded),
        needs_gpu=needs_gpu(loaded),
        archive=archive,
        uploaded_by_id=user.id if user else None,
    )
    session.add(version)
    session.flush()
    return version


def stage_directory(session: Session, path: Path, user: User | None = None) -> ProblemVersion:
    """Stage a package folder on this machine (bundled problems, the CLI)."""
    from core.problem import load_problem

    return stage(session, load_problem(path), pack_directory(path), user)


def package_root(tmp: Path) -> Path:
    """The package folder inside an unpacked archive: its top, or its one subfolder."""
    if (tmp / "problem.toml").exists():
        return tmp
    subdirs = [p for p in tmp.iterdir() if p.is_dir()]
    if len(subdirs) == 1 and (subdirs[0] / "problem.toml").exists():
        return subdirs[0]
    raise ProblemError("problem.toml: not found at the top of the archive or in its one folder")


def load_problem_lenient(root: Path) -> str:
    """The slug declared in a package's problem.toml, before the full load checks the rest."""
    import tomllib

    try:
        data = tomllib.loads((root / "problem.toml").read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProblemError(f"problem.toml: {exc}") from None
    slug = data.get("slug")
    if not isinstance(slug, str) or not slug or "/" in slug or slug.startswith("."):
        raise ProblemError("problem.toml: field 'slug' is missing or invalid")
    return slug


class ValidationState(StrEnum):
    """Where a version's validation stands (`validation["state"]`); None: never validated."""

    PENDING = "pending"  # a validation task is queued for, or running on, a worker
    DONE = "done"  # the report of core.grading.validate; `ok` says whether it passed
    ERROR = "error"  # validation could not run (sandbox or queue down); validate again


def validation_state(version: ProblemVersion) -> ValidationState | None:
    """The state of a version's validation; an unknown stored state counts as an error."""
    if version.validation is None:
        return None
    try:
        return ValidationState(str(version.validation.get("state")))
    except ValueError:
        return ValidationState.ERROR


def publish(session: Session, slug: str, version_id: int | None = None, *, force: bool = False) -> Problem:
    """Make a version (default: the newest) what students see (not committed)."""
    problem = get_problem(session, slug, None, include_unpublished=True)
    version = get_version(session, problem, version_id)
    report = version.validation
    if not force and report is not None and not report.get("ok", False):
        if validation_state(version) is ValidationState.PENDING:
            raise ConflictError(f"version {version.id} is still being validated; try again soon")
        raise ConflictError(f"version {version.id} failed validation; fix it or publish with force")
    problem.current_version_id = version.id
    problem.current_version = version
    problem.title = version.title
    problem.published = True
    session.flush()
    return problem


def unpublish(session: Session, slug: str) -> Problem:
    """Hide a problem from students (not committed)."""
    problem = get_problem(session, slug, None, include_unpublished=True)
    problem.published = False
    session.flush()
    return problem


def _can_see_drafts(user: User | None) -> bool:
    return user is not None and user.role in (Role.INSTRUCTOR, Role.ADMIN)


def list_problems(session: Session, user: User | None) -> list[Problem]:
    """Published problems (all problems for instructors and admins), by slug."""
    query = select(Problem).order_by(Problem.slug)
    if not _can_see_drafts(user):
        query = query.where(Problem.published.is_(True), course_access.visible_clause(user))
    return list(session.scalars(query))


def get_problem(session: Session, slug: str, user: User | None, *, include_unpublished: bool = False) -> Problem:
    """A problem by slug; drafts are invisible to students (NotFoundError)."""
    problem = session.scalar(select(Problem).where(Problem.slug == slug))
    visible = problem is not None and (problem.published or include_unpublished or _can_see_drafts(user))
    if visible and not include_unpublished and not course_access.can_see(session, problem, user):  # type: ignore[arg-type]
        visible = False  # in a course the user does not belong to, or not released yet
    if problem is None or not visible:
        raise NotFoundError(f"no problem {slug!r}")
    return problem


def list_versions(session: Session, problem: Problem) -> list[ProblemVersion]:
    """Every version of a problem, newest first."""
    return list(
        session.scalars(
            select(ProblemVersion).where(ProblemVersion.problem_id == problem.id).order_by(ProblemVersion.id.desc())
        )
    )


def version_numbers(versions: list[ProblemVersion]) -> dict[int, int]:
    """Version id -> its number within its problem (v1 is the oldest), for every version of
    one problem as list_versions gives them. Derived from the order of the versions: ids
    only grow and versions are never deleted one by one, so a number never changes."""
    return {v.id: n for n, v in enumerate(sorted(versions, key=lambda v: v.id), start=1)}


def version_number(session: Session, version: ProblemVersion) -> int:
    """One version's number within its problem: how many versions came before it, plus one."""
    earlier = session.scalar(select(func.count()).select_from(ProblemVersion).where(
        ProblemVersion.problem_id == version.problem_id, ProblemVersion.id < version.id))
    return int(earlier or 0) + 1


def get_version(session: Session, problem: Problem, version_id: int | None = None) -> ProblemVersion:
    """One version of a problem (default: the newest)."""
    query = select(ProblemVersion).where(ProblemVersion.problem_id == problem.id)
    if version_id is not None:
        query = query.where(ProblemVersion.id == version_id)
    version = session.scalar(query.order_by(ProblemVersion.id.desc()).limit(1))
    if version is None:
        which = "no versions" if version_id is None else f"no version {version_id}"
        raise NotFoundError(f"problem {problem.slug!r} has {which}")
    return version


def current_version(problem: Problem) -> ProblemVersion:
    """The published version, or the problem has nothing to grade against."""
    if problem.current_version is None:
        raise ConflictError(f"problem {problem.slug!r} has no published version")
    return problem.current_version

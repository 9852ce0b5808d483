"""Problem packages: the problem.toml model, loading with clear errors, and content hashing."""

from __future__ import annotations

import hashlib
import re
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import ProblemError
from core.params import validate_case_params

DType = Literal["float32", "float64", "float16", "bfloat16"]
REQUIRED_FILES = ("problem.toml", "statement.md", "starter.py", "reference.py", "driver.py")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Strict):
    """Resource limits of one sandboxed run."""

    wall_time_s: float = Field(default=120.0, gt=0, le=3600)
    case_time_s: float = Field(default=30.0, gt=0, le=3600)
    memory_mb: int = Field(default=4096, ge=64)
    output_mb: int = Field(default=64, ge=1)
    stdout_kb: int = Field(default=64, ge=1)
    tmp_mb: int = Field(default=256, ge=1)


class Timing(_Strict):
    """How timed cases are measured and judged."""

    budget_ratio: float = Field(default=4.0, gt=0)
    warmup: int = Field(default=2, ge=0, le=100)
    repeats: int = Field(default=5, ge=1, le=1000)


class Tolerance(_Strict):
    """Closeness test: |got - expected| <= atol + rtol * |expected|."""

    atol: float = Field(ge=0)
    rtol: float = Field(ge=0)


DEFAULT_TOLERANCE: dict[str, Tolerance] = {
    "float64": Tolerance(atol=1e-10, rtol=1e-10),
    "float32": Tolerance(atol=1e-5, rtol=1e-5),
    "float16": Tolerance(atol=1e-2, rtol=1e-2),
    "bfloat16": Tolerance(atol=2e-2, rtol=2e-2),
}


class Rules(_Strict):
    """What a submission may not use."""

    forbid_autograd: bool = False
    forbidden_calls: list[str] = Field(default_factory=list)
    forbidden_names: list[str] = Field(default_factory=list)
    forbidden_imports: list[str] = Field(default_factory=list)

    @property
    def any(self) -> bool:
        """Whether any rule is set."""
        return bool(
            self.forbid_autograd or self.forbidden_calls or self.forbidden_names or self.forbidden_imports
        )


class Case(_Strict):
    """One test case."""

    name: str
    visibility: Literal["public", "hidden"] = "hidden"
    points: float = Field(default=1.0, ge=0)
    seed: int = Field(default=0, ge=0, lt=2**63)
    dtype: DType = "float32"
    device: Literal["cpu", "cuda", "any"] = "any"
    timed: bool = False
    params: dict[str, Any] = Field(default_factory=dict)
    atol: float | None = Field(default=None, ge=0)
    rtol: float | None = Field(default=None, ge=0)
    mutable_inputs: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError("case names use lowercase letters, digits, '-' and '_'")
        return v


def apply_case_defaults(data: Any) -> Any:
    """Merge problem.toml's `[case_defaults]` into each case: the case wins, params merge by key."""
    if not isinstance(data, dict) or not isinstance(data.get("case_defaults"), dict):
        return data
    defaults = data["case_defaults"]
    unknown = sorted(set(defaults) - (set(Case.model_fields) - {"name"}))
    if unknown:
        raise ValueError(f"case_defaults: {', '.join(unknown)} cannot be defaulted (not a case field)")
    if not isinstance(data.get("cases"), list):
        return data
    cases = []
    for case in data["cases"]:
        if isinstance(case, dict):
            merged = {**defaults, **case}
            if isinstance(defaults.get("params"), dict) and isinstance(case.get("params", {}), dict):
                merged["params"] = {**defaults["params"], **case.get("params", {})}
            case = merged
        cases.append(case)
    return {**data, "cases": cases}


class Diagnostic(_Strict):
    """An output that runs one of the student's own modules on its own (a multi-module problem's
    driver returns it). It never changes a verdict: when a case fails and this output differs
    from the reference's, the report names the module and the problem that grades it."""

    output: str = Field(min_length=1)  # the name the driver returns it under
    what: str = Field(min_length=1, max_length=200)  # e.g. "NTKAwareRoPE in src/modeling/pos_emb.py"
    problem: str = ""  # the slug of the problem that grades that module, if there is one

    @field_validator("problem")
    @classmethod
    def _problem(cls, v: str) -> str:
        if v and not SLUG_RE.match(v):
            raise ValueError("problem must be a problem slug")
        return v


class ProblemConfig(_Strict):
    """The whole of problem.toml."""

    slug: str
    title: str = Field(min_length=1, max_length=200)
    module: str = "solution"
    entry_points: list[str] = Field(min_length=1)
    limits: Limits = Field(default_factory=Limits)
    timing: Timing = Field(default_factory=Timing)
    tolerance: dict[DType, Tolerance] = Field(default_factory=dict)
    rules: Rules = Field(default_factory=Rules)
    cases: list[Case] = Field(min_length=1)
    case_defaults: dict[str, Any] = Field(default_factory=dict)  # merged into every case
    tags: list[str] = Field(default_factory=list)
    difficulty: str = ""
    diagnostics: list[Diagnostic] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _case_defaults(cls, data: Any) -> Any:
        return apply_case_defaults(data)

    @field_validator("slug")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not SLUG_RE.match(v):
            raise ValueError("slugs use lowercase letters, digits and '-'")
        return v

    @field_validator("module")
    @classmethod
    def _module(cls, v: str) -> str:
        if not all(part.isidentifier() for part in v.split(".")):
            raise ValueError(f"{v!r} is not a valid (dotted) Python module path")
        return v

    @field_validator("entry_points")
    @classmethod
    def _entries(cls, v: list[str]) -> list[str]:
        for entry in v:
            for alt in entry.split("|"):
                module, _, symbol = alt.strip().partition(":")
                if not (all(p.isidentifier() for p in module.split(".")) and symbol.isidentifier()):
                    raise ValueError(
                        f"entry point {entry!r}: {alt.strip()!r} is not of the form module:symbol "
                        "(alternatives are separated by '|')"
                    )
        return v

    @property
    def entries(self) -> list[list[tuple[str, str]]]:
        """Each entry point as its (module, symbol) alternatives, the canonical one first."""
        return [
            [(m.strip(), s.strip()) for m, _, s in (alt.partition(":") for alt in entry.split("|"))]
            for entry in self.entry_points
        ]

    @property
    def package_roots(self) -> list[str]:
        """Top-level packages the entry points live in (e.g. `src` for `src.functional:f`)."""
        roots = [m.split(".")[0] for alts in self.entries for m, _ in alts if "." in m]
        return sorted(set(roots))

    @model_validator(mode="after")
    def _unique(self) -> ProblemConfig:
        names = [c.name for c in self.cases]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate case names: {', '.join(dupes)}")
        if all(c.points == 0 for c in self.cases):
            raise ValueError("at least one case must be worth points")
        outs = [d.output for d in self.diagnostics]
        if len(set(outs)) != len(outs):
            raise ValueError("diagnostics: each output may be named once")
        return self

    def tolerance_for(self, case: Case) -> Tolerance:
        """The case's atol/rtol: its own override, else the problem's, else the default."""
        base = self.tolerance.get(case.dtype, DEFAULT_TOLERANCE[case.dtype])
        return Tolerance(
            atol=case.atol if case.atol is not None else base.atol,
            rtol=case.rtol if case.rtol is not None else base.rtol,
        )


class Problem:
    """A loaded, validated problem package."""

    def __init__(self, path: Path, config: ProblemConfig) -> None:
        self.path = path
        self.config = config

    @property
    def slug(self) -> str:
        return self.config.slug

    @property
    def title(self) -> str:
        return self.config.title

    @property
    def statement(self) -> str:
        return (self.path / "statement.md").read_text()

    @property
    def starter(self) -> str:
        return (self.path / "starter.py").read_text()

    @property
    def public_cases(self) -> list[Case]:
        return [c for c in self.config.cases if c.visibility == "public"]

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.config.cases)

    @cached_property
    def content_hash(self) -> str:
        """The problem version: sha256 over every file's relative path and bytes."""
        h = hashlib.sha256()
        for f in sorted(p for p in self.path.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            h.update(f.relative_to(self.path).as_posix().encode() + b"\0")
            h.update(f.read_bytes() + b"\0")
        return h.hexdigest()[:16]

    def solutions(self) -> list[tuple[str, Path]]:
        """(expected verdict, path) for every known solution under solutions/: a .py file, or a
        folder holding a tree graded like a student's upload (`name/src/modeling/x.py`)."""
        root = self.path / "solutions"
        if not root.is_dir():
            return []
        found = [p for p in root.glob("*/*") if p.name != "__pycache__"
                 and ((p.is_file() and p.suffix == ".py") or p.is_dir())]
        return sorted((p.parent.name, p) for p in found)

    def support_files(self) -> dict[str, bytes]:
        """The judge's own modules under support/, by repository path (`src/modeling/norm.py`):
        installed beneath the reference and every solution, never beneath a student's upload."""
        return tree_files(self.path / "support")

    def __repr__(self) -> str:
        return f"Problem({self.slug!r}, version={self.content_hash})"


def tree_files(folder: Path) -> dict[str, bytes]:
    """Every .py file under `folder` by its relative POSIX path (none if there is no folder)."""
    if not folder.is_dir():
        return {}
    return {f.relative_to(folder).as_posix(): f.read_bytes() for f in sorted(folder.rglob("*.py"))
            if f.is_file() and "__pycache__" not in f.parts}


def solution_files(path: Path) -> dict[str, bytes]:
    """A solution as a submission's files: one file, or a folder's tree."""
    return tree_files(path) if path.is_dir() else {path.name: path.read_bytes()}


def _format_validation(path: Path, exc: ValidationError, raw: dict[str, Any] | None = None) -> str:
    cases = (raw or {}).get("cases")
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        where = ""
        if err["loc"][:1] == ("cases",) and len(err["loc"]) > 1 and isinstance(cases, list):
            index = err["loc"][1]
            if isinstance(index, int) and index < len(cases) and isinstance(cases[index], dict):
                where = f"case {cases[index].get('name', f'#{index + 1}')}: "
        lines.append(f"{path}: {where}field {loc}: {err['msg']}")
    return "\n".join(lines)


def load_problem(path: Path | str) -> Problem:
    """Load and validate a package folder; ProblemError names the file and the field."""
    path = Path(path)
    if not path.is_dir():
        raise ProblemError(f"{path}: not a problem folder")
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if missing:
        raise ProblemError(f"{path}: missing {', '.join(missing)}")
    toml_path = path / "problem.toml"
    try:
        raw = tomllib.loads(toml_path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProblemError(f"{toml_path}: not valid TOML: {exc}") from exc
    try:
        config = ProblemConfig.model_validate(raw)
    except ValidationError as exc:
        raise ProblemError(_format_validation(toml_path, exc, raw)) from exc
    if config.slug != path.name and path.name not in ("package", "upload"):
        raise ProblemError(f"{toml_path}: field slug: {config.slug!r} differs from the folder name {path.name!r}")
    for name in ("driver.py", "reference.py", "starter.py"):
        try:
            compile((path / name).read_text(), str(path / name), "exec")
        except SyntaxError as exc:
            raise ProblemError(f"{path / name}: line {exc.lineno}: syntax error: {exc.msg}") from exc
    validate_case_params(path, config.cases)  # against driver.py's Params, read, never run
    return Problem(path, config)


def resolve_problem(name_or_path: str, problems_dir: Path) -> Problem:
    """A slug under problems_dir, or a path to a package folder."""
    candidate = Path(name_or_path)
    if candidate.is_dir():
        return load_problem(candidate)
    if SLUG_RE.match(name_or_path) and (problems_dir / name_or_path).is_dir():
        return load_problem(problems_dir / name_or_path)
    raise ProblemError(f"no problem {name_or_path!r}: not a folder and not a slug under {problems_dir}")


def discover_problems(problems_dir: Path) -> list[Problem]:
    """Every valid package under problems_dir (broken ones raise)."""
    return [load_problem(p) for p in sorted(problems_dir.iterdir()) if (p / "problem.toml").is_file()]

"""Where a submission's files go in the sandbox: one file installed as the problem's module, or a
student's repository re-rooted so that the course's own import paths resolve.

A course student submits the course's template repository as it stands: its root (with `src/`,
tests, README, `.git`), the `src/` folder itself, a zip or tar of either (often with one extra
top folder, as GitHub's "Download ZIP" makes), or several files with their relative paths.
Whatever the shape, the files under the package the entry points name (`src` for
`src.functional:matmul_with_importance`) end up at `src/...` and everything else is left out,
with a note saying so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

from core.errors import SubmissionError
from core.problem import Problem


@dataclass
class Installed:
    """The submission's files as the sandbox sees them, and what the report says about them."""

    files: dict[str, bytes]
    single_module: str | None = None  # set when one file was installed as the problem's module
    notes: list[str] = field(default_factory=list)


def safe_relpath(name: str) -> PurePosixPath:
    """A relative, normalised path inside the submission folder, or SubmissionError."""
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or not p.parts or any(part in ("..", "", ".") for part in p.parts):
        raise SubmissionError(f"unsafe file path in submission: {name!r}")
    if any(part.startswith(".") for part in p.parts) or len(p.parts) > 8:
        raise SubmissionError(f"unsupported file path in submission: {name!r}")
    return p


def module_file(module: str) -> str:
    """`src.modeling.pos_emb` -> `src/modeling/pos_emb.py`."""
    return module.replace(".", "/") + ".py"


def install_single(module: str, data: bytes) -> dict[str, bytes]:
    """One file as `module`, with an empty __init__.py for each parent package."""
    parts = module.split(".")
    files = {"/".join([*parts[:i], "__init__.py"]): b"" for i in range(1, len(parts))}
    files[module_file(module)] = data
    return files


def _summary(paths: list[str], limit: int = 6) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def _defines(files: dict[str, bytes], path: str, symbol: str) -> bool:
    text = files.get(path, b"")
    return f"def {symbol}".encode() in text or f"class {symbol}".encode() in text


def _best_owner(owners: set[str], files: dict[str, bytes], root: str, cfg_entries: list[list[tuple[str, str]]]
                ) -> str:
    """Of several `src/` packages (a repository holding every assignment's folder), the one
    that defines the most entry points at their module paths, then the shallowest."""
    def score(prefix: str) -> tuple[int, int, int, str]:
        found = defined = 0
        for alts in cfg_entries:
            paths = [prefix + module_file(m) for m, _ in alts]
            found += any(p in files for p in paths)
            defined += any(_defines(files, p, s) for p, (_, s) in zip(paths, alts, strict=True))
        return (-defined, -found, prefix.count("/"), prefix)
    return min(owners, key=score)


def _find_prefix(files: dict[str, bytes], root: str, cfg_entries: list[list[tuple[str, str]]]
                 ) -> tuple[str, bool, list[str]] | None:
    """(prefix, needs_root, others): where the package `root` sits among the files.

    needs_root is True when the uploaded folder *is* the package (its `__init__.py`,
    `functional.py`, `modeling/...` at the top): then `root/` is prepended. `others` are the
    prefixes of further `root/` packages that were not chosen.
    """
    paths = [p for p in files if p.endswith(".py")]
    modules = [m for alts in cfg_entries for m, _ in alts]
    owners: set[str] = set()
    for p in paths:
        parts = p.split("/")
        if root in parts[:-1]:
            i = parts.index(root)
            owners.add("".join(f"{d}/" for d in parts[:i]))
    if owners:
        best = _best_owner(owners, files, root, cfg_entries)
        return best, False, sorted(o for o in owners if o != best)
    rels = [module_file(m).split("/", 1)[1] for m in modules if "." in m] + ["__init__.py"]
    candidates = sorted(
        {p[: len(p) - len(rel)] for p in paths for rel in rels
         if p == rel or p.endswith("/" + rel)},
        key=lambda pre: (pre.count("/"), pre),
    )
    if candidates:
        return candidates[0], True, []
    return None


def install_files(problem: Problem, files: dict[str, bytes], support: dict[str, bytes] | None = None
                  ) -> Installed:
    """A single file becomes the problem's module; several files or a tree keep the package
    layout that the entry points name, re-rooted to it; anything else is left out, with a note.

    `support` (the package's support/ tree: only for the reference and known solutions, never
    for a student) goes beneath: the submission's own files win over it."""
    installed = _install(problem, files)
    if support:
        # A single file's parent packages are empty __init__.py files made here: support's win.
        own = installed.files
        if installed.single_module:
            own = {module_file(installed.single_module): own[module_file(installed.single_module)]}
        installed.files = {**installed.files, **support, **own}
    return installed


def _install(problem: Problem, files: dict[str, bytes]) -> Installed:
    if not files:
        raise SubmissionError("the submission has no files")
    cfg = problem.config
    if len(files) == 1:
        return Installed(install_single(cfg.module, next(iter(files.values()))), single_module=cfg.module)
    checked = {str(safe_relpath(name)): data for name, data in files.items()}
    roots = cfg.package_roots
    if len(roots) != 1:
        # Not a package-layout problem: several files keep their relative paths.
        return Installed(checked)
    root = roots[0]
    modules = [m for alts in cfg.entries for m, _ in alts]
    py = sorted(p for p in checked if p.endswith(".py"))
    found = _find_prefix(checked, root, cfg.entries)
    if found is None:
        accepted = ", ".join(sorted({module_file(m) for m in modules}))
        raise SubmissionError(
            f"the submission has no `{root}/` package: this problem grades {accepted} "
            f"(files received: {_summary(py or sorted(checked))})"
        )
    prefix, needs_root, others = found
    kept: dict[str, bytes] = {}
    left_out: list[str] = []
    inside = prefix if needs_root else f"{prefix}{root}/"
    for path in sorted(checked):
        if path.startswith(inside) and path.endswith(".py"):
            rel = path[len(inside):]
            kept[f"{root}/{rel}"] = checked[path]
        else:
            left_out.append(path)
    notes = []
    if prefix or needs_root:
        where = prefix + root if not needs_root else (prefix.rstrip("/") or "the top folder")
        notes.append(f"graded the package `{root}/` found at `{where}`")
    if others:
        notes.append(f"other `{root}/` packages were not graded: {_summary([o + root for o in others])}")
    if left_out:
        notes.append(f"left out {len(left_out)} file(s) that are not Python modules of `{root}/`: "
                     f"{_summary(left_out)}")
    return Installed(kept, notes=notes)

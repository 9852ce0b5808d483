"""Importing a submission inside the sandbox: the course's package layout, entry points with
alternative module paths, and package `__init__` files that import more than the problem uses.

A course student's repository is a package (`src/__init__.py`, `src/functional.py`,
`src/modeling/__init__.py`, `src/modeling/pos_emb.py`, ...) with relative imports, and its
`__init__` files import every sibling module, finished or not. Entry points are tried the way
the course imports them (the package's own `__init__` runs); only when that fails is the
module that defines the symbol loaded on its own, with its parent packages stubbed so that no
`__init__` runs, and the report says so. A failure in the graded module itself stays a
compile error with the student's traceback.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import traceback
import types
from dataclasses import dataclass, field

Entry = list[tuple[str, str]]  # the (module, symbol) alternatives of one entry point
_MISSING = object()


class CompileFailure(Exception):
    """The submission could not be imported or lacks an entry point."""


@dataclass
class LoadedSubmission:
    """What the driver gets, plus what the report says about it."""

    namespace: types.SimpleNamespace
    graded: dict[str, str] = field(default_factory=dict)  # symbol -> "src/functional.py:f"
    notes: list[str] = field(default_factory=list)


def student_traceback(exc: BaseException, submission_dir: str) -> str:
    """The traceback with the judge's frames removed: only the student's files remain."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(submission_dir)]
    lines = ["Traceback (most recent call last):\n"] if frames else []
    for f in frames:
        name = f.filename[len(submission_dir) :].lstrip("/")
        lines.append(f'  File "{name}", line {f.lineno}, in {f.name}\n')
        if f.line:
            lines.append(f"    {f.line}\n")
    lines.extend(traceback.format_exception_only(type(exc), exc))
    return "".join(lines)[-4000:]


def parse_entries(raw: list[str] | list[list[list[str]]]) -> list[Entry]:
    """Entry points from the job: `"mod:sym|mod2:sym"` strings or lists of [module, symbol]."""
    out: list[Entry] = []
    for item in raw:
        if isinstance(item, str):
            alts = [alt.strip().partition(":") for alt in item.split("|")]
            out.append([(m, s) for m, _, s in alts])
        else:
            out.append([(str(m), str(s)) for m, s in item])
    return out


def _module_file(submission_dir: str, module: str) -> str | None:
    """The file that defines `module` in the submission, relative to it, if any."""
    base = os.path.join(submission_dir, *module.split("."))
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(candidate):
            return os.path.relpath(candidate, submission_dir)
    return None


def _forget(root: str) -> None:
    for name in list(sys.modules):
        if name == root or name.startswith(root + "."):
            del sys.modules[name]


def _stub_parents(submission_dir: str, module: str) -> None:
    """Put empty packages for every parent of `module` in sys.modules, so no __init__ runs."""
    parts = module.split(".")
    parent: types.ModuleType | None = None
    for depth in range(1, len(parts)):
        name = ".".join(parts[:depth])
        path = os.path.join(submission_dir, *parts[:depth])
        if name in sys.modules:  # stubbed (or loaded) for an earlier entry point: keep it
            parent = sys.modules[name]
            continue
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [path]
        stub = importlib.util.module_from_spec(spec)
        stub.__path__ = [path]
        sys.modules[name] = stub
        if parent is not None:
            setattr(parent, parts[depth - 1], stub)
        parent = stub


def _import(module: str, submission_dir: str) -> types.ModuleType:
    try:
        return importlib.import_module(module)
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise CompileFailure(f"importing {module} exited: {exc!r}") from exc
        hint = _missing_sibling(exc, module, submission_dir)
        raise CompileFailure(f"importing {module} failed:\n{student_traceback(exc, submission_dir)}{hint}") from exc


def _missing_sibling(exc: BaseException, module: str, submission_dir: str) -> str:
    """A hint when the graded module imports a module of its own package that was not sent."""
    name = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    root = module.split(".")[0]
    if not name or not (name == root or name.startswith(root + ".")) or _module_file(submission_dir, name):
        return ""
    path = name.replace(".", "/") + ".py"
    return (f"\nThe submission has no {path}: this problem grades your whole `{root}/` package (the "
            f"graded module imports your own {path}); submit the repository or its `{root}/` folder.")


def _load_single(submission_dir: str, module: str, entries: list[Entry]) -> LoadedSubmission:
    """One uploaded file, installed as `module`: every entry's symbol is looked up there."""
    mod = _import(module, submission_dir)
    where = _module_file(submission_dir, module) or module
    loaded = LoadedSubmission(types.SimpleNamespace())
    for alts in entries:
        symbol = alts[0][1]
        names = [s for _, s in alts if hasattr(mod, s)]
        if names:
            setattr(loaded.namespace, symbol, getattr(mod, names[0]))
            loaded.graded[symbol] = f"{where}:{names[0]}"
            continue
        # Not in the file: a module installed next to it (a known solution's support/ tree).
        value, _failures = _normal(submission_dir, [a for a in alts if a[0] != module], loaded)
        if value is _MISSING:
            raise CompileFailure(f"missing entry point: the submitted file defines no `{symbol}`")
        setattr(loaded.namespace, symbol, value)
    return loaded


def _normal(submission_dir: str, alts: Entry, loaded: LoadedSubmission) -> tuple[object, list[str]]:
    """One entry point through its alternatives, imported as the course imports them (the
    package __init__ files run): (the object or _MISSING, what went wrong on the way)."""
    failures: list[str] = []
    for module, symbol in alts:
        rel = _module_file(submission_dir, module)
        if rel is None:
            continue
        try:
            mod = _import(module, submission_dir)
        except CompileFailure as exc:
            failures.append(str(exc))
            continue
        if hasattr(mod, symbol):
            loaded.graded[alts[0][1]] = f"{rel}:{symbol}"
            return getattr(mod, symbol), failures
        failures.append(f"{rel} defines no `{symbol}`")
    return _MISSING, failures


def _isolated(submission_dir: str, alts: Entry, loaded: LoadedSubmission) -> object:
    """One entry point from the module that defines it, its parent packages stubbed so that no
    __init__ runs; modules already loaded this way are shared with the other entry points."""
    for module, symbol in alts:
        rel = _module_file(submission_dir, module)
        if rel is None or "." not in module or rel.endswith("__init__.py"):
            continue
        _stub_parents(submission_dir, module)
        mod = _import(module, submission_dir)  # a failure here is the graded module's own
        if hasattr(mod, symbol):
            loaded.graded[alts[0][1]] = f"{rel}:{symbol}"
            return getattr(mod, symbol)
    return _MISSING


def _missing(submission_dir: str, alts: Entry) -> CompileFailure:
    accepted = ", ".join(f"{m.replace('.', '/')}.py" for m, _ in alts)
    return CompileFailure(
        f"missing entry point: `{alts[0][1]}` was looked for in {accepted} and none of them is in "
        f"the submission (files found: {_listing(submission_dir)})"
    )


def _listing(submission_dir: str, limit: int = 12) -> str:
    found: list[str] = []
    for dirpath, _dirs, files in os.walk(submission_dir):
        for f in sorted(files):
            if f.endswith(".py"):
                found.append(os.path.relpath(os.path.join(dirpath, f), submission_dir))
    shown = ", ".join(sorted(found)[:limit])
    return shown + (f" and {len(found) - limit} more" if len(found) > limit else "") if found else "none"


def load_submission(submission_dir: str, entry_points: list[str] | list[list[list[str]]],
                    single_module: str | None = None) -> LoadedSubmission:
    """Import the submission and resolve every entry point (CompileFailure with a clear message)."""
    if submission_dir not in sys.path:
        sys.path.insert(0, submission_dir)
    entries = parse_entries(entry_points)
    if single_module:
        return _load_single(submission_dir, single_module, entries)
    loaded = LoadedSubmission(types.SimpleNamespace())
    trouble: list[tuple[Entry, list[str]]] = []
    for alts in entries:
        value, failures = _normal(submission_dir, alts, loaded)
        if value is _MISSING:
            trouble.append((alts, failures))
        else:
            setattr(loaded.namespace, alts[0][1], value)
    if not trouble:
        return loaded
    alts, failures = next(((a, f) for a, f in trouble if f), trouble[0])
    if not failures:
        raise _missing(submission_dir, alts)
    # The package's __init__ files stand in the way (an unfinished sibling module, a missing
    # dependency): load every entry point from the module that defines it, all in one set of
    # modules, so that classes and enums the entry points share stay the same objects.
    for root in {m.split(".")[0] for entry in entries for m, _ in entry}:
        _forget(root)
    alone = LoadedSubmission(types.SimpleNamespace())
    for entry in entries:
        value = _isolated(submission_dir, entry, alone)
        if value is _MISSING:
            raise CompileFailure(failures[0])
        setattr(alone.namespace, entry[0][1], value)
    files = ", ".join(sorted({g.rsplit(":", 1)[0] for g in alone.graded.values()}))
    alone.notes.append(f"{files} graded on its own, without the package's __init__ files, which could "
                       f"not be imported ({failures[0].splitlines()[-1].strip()})")
    return alone

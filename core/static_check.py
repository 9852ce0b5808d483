"""Static checks of a submission before it runs: syntax, forbidden names and imports.

A problem's rules apply to the code its entry points run, not to everything in the files: a
course file may keep an autograd comparison class or an `if __name__ == "__main__":` self-test
next to the graded class. Given the entry points, the scan covers the definitions they name,
the module-level names those definitions use (same-module helpers, and `from .x import y`
helpers in other submitted files, followed transitively), and the module-level imports of every
file it reaches. Ways to escape the runtime tracer are refused anywhere in any file.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass

from core.problem import Rules

# Ways to switch off or escape the runtime tracer; forbidden whenever a problem has rules.
TRACER_ESCAPES = (
    "DisableTorchFunction",
    "DisableTorchFunctionSubclass",
    "_disable_torch_function",
    "_pop_torch_function_stack",
    "_push_on_torch_function_stack",
    "_set_torch_function_mode",
)


@dataclass
class StaticFinding:
    """A problem found without running the code."""

    kind: str  # "syntax" | "rule"
    message: str


def _dotted(node: ast.AST) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _hit(name: str, pattern: str) -> bool:
    if "." not in pattern:
        return pattern in name.split(".")
    return name == pattern or name.startswith(pattern + ".") or ("." + pattern + ".") in ("." + name + ".")


def _parse(filename: str, source: str) -> ast.Module | StaticFinding:
    try:
        return ast.parse(source, filename=filename)
    except SyntaxError as exc:
        where = f"{filename}, line {exc.lineno}" if exc.lineno else filename
        return StaticFinding("syntax", f"{where}: syntax error: {exc.msg}")
    except ValueError as exc:  # e.g. null bytes
        return StaticFinding("syntax", f"{filename}: cannot be parsed: {exc}")


def _names(rules: Rules) -> list[str]:
    names = list(rules.forbidden_names) + list(TRACER_ESCAPES)
    if rules.forbid_autograd:
        # Only names with no use but autograd: `requires_grad_(False)` or
        # `set_grad_enabled(False)` are harmless and the runtime tracer sees the rest.
        names += ["torch.autograd", "torch.func", "functorch", "enable_grad"]
    return names


def _scan(filename: str, nodes: Iterable[ast.AST], rules: Rules, names: list[str]) -> StaticFinding | None:
    """The first forbidden import or name inside `nodes` (each walked entirely)."""
    for top in nodes:
        for node in ast.walk(top):
            found: list[str] = []
            if isinstance(node, ast.Import):
                found = [a.name for a in node.names]
                for mod in found:
                    for banned in rules.forbidden_imports:
                        if _hit(mod, banned):
                            where = f"{filename}, line {node.lineno}"
                            return StaticFinding("rule", f"{where}: import of {mod} is forbidden")
            elif isinstance(node, ast.ImportFrom) and node.module:
                found = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                for banned in rules.forbidden_imports:
                    if _hit(node.module, banned):
                        where = f"{filename}, line {node.lineno}"
                        return StaticFinding("rule", f"{where}: import of {node.module} is forbidden")
            elif isinstance(node, (ast.Attribute, ast.Name)):
                dotted = _dotted(node)
                found = [dotted] if dotted else [node.attr] if isinstance(node, ast.Attribute) else []
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and rules.forbid_autograd:
                found = [node.value] if node.value.isidentifier() else []
            for name in found:
                for pattern in names:
                    if _hit(name, pattern):
                        line = getattr(node, "lineno", "?")
                        return StaticFinding("rule", f"{filename}, line {line}: `{name}` is forbidden in this problem")
    return None


def check_source(filename: str, source: str, rules: Rules) -> StaticFinding | None:
    """The first finding in one file, all of it scanned, or None."""
    tree = _parse(filename, source)
    if isinstance(tree, StaticFinding):
        return tree
    if not rules.any:
        return None
    return _scan(filename, [tree], rules, _names(rules))


def _module_of(path: str) -> str:
    """`src/modeling/pos_emb.py` -> `src.modeling.pos_emb`; `src/__init__.py` -> `src`."""
    parts = path[: -len(".py")].split("/")
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _file_of(module: str, files: dict[str, bytes]) -> str | None:
    base = module.replace(".", "/")
    for path in (base + ".py", base + "/__init__.py"):
        if path in files:
            return path
    return None


def _is_main_guard(stmt: ast.stmt) -> bool:
    if not isinstance(stmt, ast.If) or not isinstance(stmt.test, ast.Compare):
        return False
    sides = [stmt.test.left, *stmt.test.comparators]
    return any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) and any(
        isinstance(s, ast.Constant) and s.value == "__main__" for s in sides
    )


def _top_level(tree: ast.Module) -> list[ast.stmt]:
    """Module-level statements, looking inside top-level if/try blocks, never into a
    `__main__` block (it does not run when the module is imported)."""
    out: list[ast.stmt] = []
    todo = list(tree.body)
    while todo:
        stmt = todo.pop(0)
        if _is_main_guard(stmt):
            continue
        if isinstance(stmt, ast.If):
            todo[:0] = [*stmt.body, *stmt.orelse]
        elif isinstance(stmt, ast.Try):
            todo[:0] = [*stmt.body, *(s for h in stmt.handlers for s in h.body), *stmt.orelse, *stmt.finalbody]
        else:
            out.append(stmt)
    return out


def _bound(stmt: ast.stmt) -> list[str]:
    """The module-level names one statement binds."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [stmt.name]
    if isinstance(stmt, ast.Import):
        return [a.asname or a.name.split(".")[0] for a in stmt.names]
    if isinstance(stmt, ast.ImportFrom):
        return [a.asname or a.name for a in stmt.names]
    targets: list[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]


def _absolute(path: str, node: ast.ImportFrom) -> str | None:
    """The module a `from ... import` in file `path` reads from."""
    if not node.level:
        return node.module
    package = _module_of(path).split(".")
    if not path.endswith("/__init__.py"):
        package = package[:-1]
    if node.level - 1 > len(package):
        return None
    package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, *([node.module] if node.module else [])]) or None


class _Scope:
    """Walks from the entry points through the definitions and helpers they use."""

    def __init__(self, files: dict[str, bytes], rules: Rules) -> None:
        self.files = files
        self.rules = rules
        self.names = _names(rules)
        self.trees: dict[str, ast.Module] = {}
        self.bindings: dict[str, dict[str, list[ast.stmt]]] = {}
        self.seen: set[tuple[str, str]] = set()
        self.todo: list[tuple[str, str]] = []

    def _load(self, path: str) -> StaticFinding | None:
        if path in self.trees:
            return None
        try:
            source = self.files[path].decode("utf-8")
        except UnicodeDecodeError:
            return StaticFinding("syntax", f"{path}: not UTF-8 text")
        tree = _parse(path, source)
        if isinstance(tree, StaticFinding):
            return tree
        self.trees[path] = tree
        table: dict[str, list[ast.stmt]] = {}
        for stmt in _top_level(tree):
            for name in _bound(stmt):
                table.setdefault(name, []).append(stmt)
        self.bindings[path] = table
        if not self.rules.forbidden_imports or path.endswith("__init__.py"):
            return None
        # A banned library counts wherever a reached file imports it at module level: importing
        # it already runs its code. Package __init__ files are reached only as re-export hubs
        # (`from .pos_emb import NTKAwareRoPE`); what else they import belongs to the course's
        # other modules, and an import there that reached code uses is still checked in _visit.
        imports = [s for s in _top_level(tree) if isinstance(s, (ast.Import, ast.ImportFrom))]
        return _scan(path, imports, Rules(forbidden_imports=self.rules.forbidden_imports), [])

    def add(self, path: str, symbol: str) -> None:
        if (path, symbol) not in self.seen:
            self.seen.add((path, symbol))
            self.todo.append((path, symbol))

    def run(self) -> StaticFinding | None:
        while self.todo:
            path, symbol = self.todo.pop(0)
            finding = self._load(path) or self._visit(path, symbol)
            if finding:
                return finding
        return None

    def _visit(self, path: str, symbol: str) -> StaticFinding | None:
        table = self.bindings[path]
        if symbol == "*":  # a whole module reached by `from . import helpers`
            for name in table:
                self.add(path, name)
            return None
        for stmt in table.get(symbol, []):
            finding = _scan(path, [stmt], self.rules, self.names) if self.rules.any else None
            if finding:
                return finding
            if isinstance(stmt, ast.ImportFrom):
                self._follow(path, stmt, symbol)
                continue
            used = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
            for name in sorted(used & table.keys()):
                self.add(path, name)
        return None

    def _follow(self, path: str, node: ast.ImportFrom, symbol: str) -> None:
        target = _absolute(path, node)
        if target is None:
            return
        for alias in node.names:
            if (alias.asname or alias.name) != symbol:
                continue
            submodule = _file_of(f"{target}.{alias.name}", self.files)
            if submodule is not None:
                self.add(submodule, "*")
            elif (origin := _file_of(target, self.files)) is not None:
                self.add(origin, alias.name)


def _escapes_anywhere(files: dict[str, bytes]) -> StaticFinding | None:
    """Tracer escapes are refused in every file, used or not."""
    escapes = Rules(forbidden_names=list(TRACER_ESCAPES))
    for path in sorted(p for p in files if p.endswith(".py")):
        try:
            tree = ast.parse(files[path].decode("utf-8"), filename=path)
        except (SyntaxError, ValueError, UnicodeDecodeError):
            continue  # a file that cannot be parsed cannot run either
        finding = _scan(path, [tree], escapes, list(TRACER_ESCAPES))
        if finding:
            return finding
    return None


def check_files(
    files: dict[str, bytes],
    rules: Rules,
    entry_points: Iterable[tuple[str, str]] | None = None,
    single_module: str | None = None,
) -> StaticFinding | None:
    """The first finding in a submission's Python files (paths as installed: `src/functional.py`).

    Without `entry_points` every file is scanned entirely. With them (module, symbol pairs, every
    alternative included), only the code those symbols reach is held to the rules; with
    `single_module`, every symbol is looked up in that one module's file.
    """
    starts: list[tuple[str, str]] = []
    if entry_points is not None:
        for module, symbol in entry_points:
            path = _file_of(single_module or module, files)
            if path is not None:
                starts.append((path, symbol))
    if not starts:
        for path in sorted(files):
            if not path.endswith(".py"):
                continue
            try:
                source = files[path].decode("utf-8")
            except UnicodeDecodeError:
                return StaticFinding("syntax", f"{path}: not UTF-8 text")
            finding = check_source(path, source, rules)
            if finding:
                return finding
        return None
    scope = _Scope(files, rules)
    for path, symbol in starts:
        scope.add(path, symbol)
    finding = scope.run()
    if finding or not rules.any:
        return finding
    return _escapes_anywhere(files)

"""Static checks of a submission before it runs: syntax, forbidden names and imports."""

from __future__ import annotations

import ast
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


def check_source(filename: str, source: str, rules: Rules) -> StaticFinding | None:
    """The first finding in one file, or None."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        where = f"{filename}, line {exc.lineno}" if exc.lineno else filename
        return StaticFinding("syntax", f"{where}: syntax error: {exc.msg}")
    except ValueError as exc:  # e.g. null bytes
        return StaticFinding("syntax", f"{filename}: cannot be parsed: {exc}")
    if not rules.any:
        return None
    names = list(rules.forbidden_names) + list(TRACER_ESCAPES)
    if rules.forbid_autograd:
        # Only names with no use but autograd: `requires_grad_(False)` or
        # `set_grad_enabled(False)` are harmless and the runtime tracer sees the rest.
        names += ["torch.autograd", "torch.func", "functorch", "enable_grad"]
    for node in ast.walk(tree):
        found: list[str] = []
        if isinstance(node, ast.Import):
            found = [a.name for a in node.names]
            for mod in found:
                for banned in rules.forbidden_imports:
                    if _hit(mod, banned):
                        return StaticFinding("rule", f"{filename}, line {node.lineno}: import of {mod} is forbidden")
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


def check_files(files: dict[str, bytes], rules: Rules) -> StaticFinding | None:
    """The first finding over every Python file of a submission."""
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

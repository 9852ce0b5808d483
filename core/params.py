"""Typed case parameters: a driver's `Params` dataclass, read without running the driver.

A driver declares its case parameters as a module-level dataclass named `Params`::

    @dataclass(frozen=True)
    class Params:
        b: int
        num_heads: int = 1
        kind: Literal["apply", "module"] = "apply"
        calls: tuple[tuple[int, int], ...] = ()

The judge reads that class from the driver's syntax tree (the driver itself is never executed
outside the sandbox: an uploaded package may be validated by a web process that has no sandbox),
turns it into a pydantic model and validates every case's params against it when the package
loads. Annotations may use int, float, str, bool, None, Any, list[...], tuple[...],
dict[...], Literal[...], Optional[...] and `X | Y`; defaults must be literals. Validation runs
on the JSON form of the params in strict mode: an int is accepted where a float is declared, but
"3" and 3.0 are not ints and 1 is not a bool; a TOML array is a list or a tuple.
"""

from __future__ import annotations

import ast
import json
import typing
from functools import reduce
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from core.errors import ProblemError

PARAMS_CLASS = "Params"
_NAMES: dict[str, Any] = {
    "int": int, "float": float, "str": str, "bool": bool, "None": None, "Any": Any,
    "list": list, "tuple": tuple, "dict": dict,
    "List": list, "Tuple": tuple, "Dict": dict, "Sequence": tuple,
}
_GENERIC = {"list", "tuple", "dict", "List", "Tuple", "Dict", "Sequence"}


class _ParamsBase(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _name(node: ast.expr) -> str | None:
    """`Literal` for Literal, typing.Literal or t.Literal."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _annotation(node: ast.expr, where: str) -> Any:
    """The Python type an annotation's syntax denotes, from a closed vocabulary."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _annotation(ast.parse(node.value, mode="eval").body, where)
    if isinstance(node, ast.Constant) and node.value is None:
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return typing.Union[_annotation(node.left, where), _annotation(node.right, where)]  # noqa: UP007
    name = _name(node)
    if name in _NAMES:
        return _NAMES[name]
    if isinstance(node, ast.Subscript):
        head = _name(node.value)
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if head == "Literal":
            try:
                values = tuple(ast.literal_eval(i) for i in items)
            except ValueError as exc:
                raise ProblemError(f"{where}: Literal[...] takes literal values only") from exc
            return Literal.__getitem__(values)
        if head == "Optional":
            return typing.Optional[_annotation(items[0], where)]  # noqa: UP045
        if head == "Union":
            return reduce(lambda a, b: typing.Union[a, b], [_annotation(i, where) for i in items])  # noqa: UP007
        if head in _GENERIC:
            args = tuple(
                Ellipsis if isinstance(i, ast.Constant) and i.value is Ellipsis else _annotation(i, where)
                for i in items
            )
            if head == "Sequence":
                return tuple.__class_getitem__((args[0], ...))
            return _NAMES[head][args if len(args) > 1 else args[0]]
    raise ProblemError(
        f"{where}: unsupported annotation {ast.unparse(node)!r} (use int, float, str, bool, None, "
        "list/tuple/dict[...], Literal[...], Optional[...] or X | Y)"
    )


def _default(node: ast.expr, where: str) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError as exc:
        raise ProblemError(f"{where}: the default {ast.unparse(node)!r} is not a literal") from exc


def params_model(driver: Path) -> type[BaseModel] | None:
    """The pydantic model of the driver's `Params` class, or None when it declares none."""
    tree = ast.parse(driver.read_text(), str(driver))
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == PARAMS_CLASS]
    if not classes:
        return None
    fields: dict[str, Any] = {}
    for stmt in classes[-1].body:
        if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
            continue
        where = f"{driver}: line {stmt.lineno}: {PARAMS_CLASS}.{stmt.target.id}"
        if _name(stmt.annotation) == "ClassVar" or (
            isinstance(stmt.annotation, ast.Subscript) and _name(stmt.annotation.value) == "ClassVar"
        ):
            continue
        kind = _annotation(stmt.annotation, where)
        fields[stmt.target.id] = (kind, _default(stmt.value, where) if stmt.value is not None else ...)
    return create_model(f"{PARAMS_CLASS}Model", __base__=_ParamsBase, **fields)


def validate_case_params(path: Path, cases: list[Any]) -> None:
    """Check every case's params against driver.py's `Params`; ProblemError names case and field."""
    driver = path / "driver.py"
    model = params_model(driver)
    if model is None:
        return
    toml = path / "problem.toml"
    lines: list[str] = []
    for case in cases:
        try:
            model.model_validate_json(json.dumps(case.params), strict=True)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                msg = "unknown parameter (not a field of driver.py's Params)" \
                    if err["type"] == "extra_forbidden" else err["msg"]
                lines.append(f"{toml}: case {case.name}: params.{loc}: {msg}")
        except (TypeError, ValueError) as exc:  # a TOML date or time has no JSON form
            lines.append(f"{toml}: case {case.name}: params: {exc}")
    if lines:
        raise ProblemError("\n".join(lines))

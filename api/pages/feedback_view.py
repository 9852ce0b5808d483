"""Expected vs got, laid out for the submission page from a public case's feedback (the
values come from core.compare via core.feedback; hidden cases never carry any)."""

from __future__ import annotations

import math
from typing import Any

MAX_COLS = 16  # a row of a small tensor wider than this is wrapped


def _grid(values: list[Any], shape: list[int], mismatch: set[int] | None = None) -> list[dict[str, Any]]:
    """Rows of cells: the tensor flattened to (leading dims..., last dim), long rows wrapped."""
    cols = shape[-1] if shape else 1
    cols = cols if 0 < cols <= MAX_COLS else MAX_COLS
    rows = []
    for start in range(0, len(values), cols):
        index = _unravel(start, shape)
        label = ", ".join(str(i) for i in index[:-1]) if len(shape) > 1 else ""
        if len(shape) > 1 and shape[-1] > MAX_COLS:
            label += f"{', ' if label else ''}{index[-1]}:"
        rows.append({"label": label, "cells": [
            {"flat": start + j, "value": v, "miss": bool(mismatch and (start + j) in mismatch)}
            for j, v in enumerate(values[start:start + cols])]})
    return rows


def _unravel(flat: int, shape: list[int]) -> list[int]:
    out = []
    for size in reversed(shape or [1]):
        out.append(flat % size)
        flat //= size
    return list(reversed(out))


def expected_vs_got(fb: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the template draws for one failed public case, or None when there is nothing."""
    if not fb:
        return None
    view: dict[str, Any] = {"output": fb.get("output") or "output"}
    small = fb.get("values")
    if small:
        shape = list(small.get("shape") or [len(small.get("expected") or [])])
        miss = set(small.get("mismatch") or [])
        view.update(mode="small", shape=shape, mismatches=len(miss),
                    expected=_grid(small["expected"], shape, miss), got=_grid(small["got"], shape, miss),
                    columns=list(range(min(shape[-1] if shape else 1, MAX_COLS))))
        view["inputs"] = [{"name": name, "shape": t["shape"], "dtype": t.get("dtype", ""),
                           "rows": _grid(t["values"], list(t["shape"]) or [1])}
                          for name, t in (fb.get("inputs") or {}).items() if math.prod(t["shape"] or [1]) > 0]
        return view
    if fb.get("worst") or fb.get("slice"):
        view.update(mode="large", worst=fb.get("worst") or [])
        part = fb.get("slice")
        if part:
            where = ", ".join(str(i) for i in part["index"])
            view["slice"] = {"label": f"{view['output']}[{where}{', ' if where else ''}{part['start']}:{part['stop']}]",
                             "columns": list(range(part["start"], part["stop"])),
                             "expected": part["expected"], "got": part["got"],
                             "mismatch": set(part.get("mismatch") or [])}
        return view
    return None

"""Expected-vs-got feedback for a failed value check, computed outside the sandbox from the
comparison's tensors (core.compare). The grading pipeline keeps feedback for public cases
only, so none of this ever describes a hidden case.

Small outputs (at most SMALL elements) come whole: expected, got and which positions are
outside tolerance. Larger ones come as the worst elements (index, expected, got, error) and
the first mismatching slice along the last dimension; the heat map's axes are described so
that the page can label them.
"""

from __future__ import annotations

import math
from typing import Any

import torch

SMALL = 64  # elements: the whole tensor is shown side by side
WORST = 8  # elements listed for larger outputs
SLICE = 16  # elements of the first mismatching slice shown (around the first mismatch)


def _num(x: float) -> float | str:
    # JSON has no NaN or Inf: they travel as strings.
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return float(f"{x:.6g}")


def _values(t: torch.Tensor) -> list[float | str]:
    return [_num(float(v)) for v in t.reshape(-1).double().tolist()]


def _unravel(flat: int, shape: list[int]) -> list[int]:
    out = []
    for size in reversed(shape):
        out.append(flat % size)
        flat //= size
    return list(reversed(out))


def heat_axes(shape: list[int], pooled_rows: int, pooled_cols: int) -> dict[str, Any]:
    """What the heat map's rows and columns are, for its labels: the last dimension across,
    every dimension before it flattened down (how core.compare pools the error ratio)."""
    if len(shape) < 2:
        return {"rows": "(one row)", "cols": f"dim 0 (size {shape[0] if shape else 1})",
                "pooled": [pooled_rows, pooled_cols]}
    lead = " × ".join(f"dim {i}" for i in range(len(shape) - 1))
    n_rows = math.prod(shape[:-1])
    return {"rows": f"{lead} flattened ({n_rows} rows)" if len(shape) > 2 else f"dim 0 (size {shape[0]})",
            "cols": f"dim {len(shape) - 1} (size {shape[-1]})", "pooled": [pooled_rows, pooled_cols]}


def value_details(got: torch.Tensor, exp: torch.Tensor, diff: torch.Tensor, ratio: torch.Tensor,
                  bad: torch.Tensor) -> dict[str, Any]:
    """Expected vs got for a value check that failed (`bad`: ratio > 1, same shape as exp)."""
    shape = list(exp.shape)
    out: dict[str, Any] = {}
    if exp.numel() <= SMALL:
        out["values"] = {"shape": shape, "expected": _values(exp), "got": _values(got),
                         "mismatch": [int(i) for i in bad.reshape(-1).nonzero().reshape(-1).tolist()]}
        return out
    flat_ratio = torch.nan_to_num(ratio.reshape(-1).double(), nan=float("inf"))
    k = min(WORST, int(bad.sum()))
    top = torch.topk(flat_ratio, k).indices.tolist() if k else []
    g, e, d = got.reshape(-1), exp.reshape(-1), diff.reshape(-1)
    out["worst"] = [{"index": _unravel(i, shape), "expected": _num(float(e[i])), "got": _num(float(g[i])),
                     "abs_error": _num(float(d[i])), "ratio": _num(float(flat_ratio[i]))} for i in top]
    first = int(bad.reshape(-1).nonzero()[0])
    index = _unravel(first, shape)
    if len(shape) >= 1:
        prefix = tuple(index[:-1])
        row_e, row_g, row_bad = exp[prefix].reshape(-1), got[prefix].reshape(-1), bad[prefix].reshape(-1)
        start = max(0, min(index[-1] - SLICE // 4, row_e.numel() - SLICE))
        stop = min(row_e.numel(), start + SLICE)
        out["slice"] = {"index": list(prefix), "start": start, "stop": stop,
                        "expected": _values(row_e[start:stop]), "got": _values(row_g[start:stop]),
                        "mismatch": [i + start for i in row_bad[start:stop].nonzero().reshape(-1).tolist()]}
    return out


def input_values(exp: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The case's small inputs (as the reference saw them), for an expected-vs-got view."""
    shown: dict[str, Any] = {}
    for key in sorted(exp):
        if not key.startswith("in."):
            continue
        t = exp[key]
        if t.numel() <= SMALL and (t.is_floating_point() or not t.is_complex()):
            shown[key[3:]] = {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""),
                              "values": _values(t)}
    return shown

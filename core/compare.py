"""Comparison of submission outputs with reference outputs, outside the sandbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from core.feedback import heat_axes, input_values, value_details
from sandbox.kit import same_bits

MAX_INDICES = 5
HEAT = 16


@dataclass
class Check:
    """The first failed check of a case, or a pass with the worst error ratio seen."""

    ok: bool
    check: str = ""  # value | gradient | shape | dtype | device | nan | mutation | missing
    output: str = ""
    message: str = ""
    error_ratio: float = 0.0  # max |got-exp| / (atol + rtol|exp|); inf for structural failures
    details: dict[str, Any] = field(default_factory=dict)
    differing: list[str] = field(default_factory=list)  # diagnostic outputs that differ too


def _kind(name: str) -> str:
    return "gradient" if "grad" in name else "value"


def _heat(ratio: torch.Tensor) -> list[list[float]]:
    """Downsample the per-element error ratio to at most HEAT x HEAT (max pooling)."""
    t = ratio.reshape(1, -1) if ratio.dim() < 2 else ratio.reshape(-1, ratio.shape[-1])
    t = t.float().unsqueeze(0)
    rows, cols = min(HEAT, t.shape[1]), min(HEAT, t.shape[2])
    pooled = torch.nn.functional.adaptive_max_pool2d(t, (rows, cols))[0]
    return [[round(float(x), 3) for x in row] for row in pooled.clamp(max=1e6)]


def compare_tensor(name: str, got: torch.Tensor, exp: torch.Tensor, atol: float, rtol: float) -> Check:
    """Shape, dtype, NaN/Inf placement, then values within atol + rtol * |expected|."""
    kind = _kind(name)
    if got.shape != exp.shape:
        return Check(False, "shape", name, f"`{name}` has shape {list(got.shape)}, expected {list(exp.shape)}",
                     float("inf"))
    if got.dtype != exp.dtype:
        return Check(False, "dtype", name, f"`{name}` has dtype {got.dtype}, expected {exp.dtype}",
                     float("inf"))
    if got.numel() == 0:
        return Check(True, output=name)
    if not (exp.is_floating_point() or exp.is_complex()):
        bad = got != exp
        if bool(bad.any()):
            idx = bad.nonzero()[:MAX_INDICES].tolist()
            return Check(False, kind, name, f"`{name}` differs at {int(bad.sum())} positions",
                         float("inf"), {"mismatches": int(bad.sum()), "first_indices": idx})
        return Check(True, output=name)
    if torch.equal(got, exp):  # bit-identical (NaN never equals NaN, so those go the long way)
        return Check(True, output=name, details={"max_abs_error": 0.0, "max_rel_error": 0.0, "atol": atol,
                                                 "rtol": rtol, "shape": list(exp.shape),
                                                 "dtype": str(exp.dtype).replace("torch.", "")})
    g, e = got.double(), exp.double()
    if bool(torch.isfinite(exp).all()) and bool(torch.isfinite(got).all()):
        # The usual case, in fewer passes over the data: no NaN or Inf on either side.
        diff = (g - e).abs_()
        e_abs = e.abs()
        allowed = e_abs * rtol + atol
        ratio = diff / allowed if atol > 0 else torch.where(
            allowed > 0, diff / allowed, torch.where(diff > 0, torch.inf, 0.0))
        rel = torch.where(e_abs != 0, diff / e_abs, 0.0)
    else:
        g_nan, e_nan = g.isnan(), e.isnan()
        g_inf, e_inf = g.isinf(), e.isinf()
        bad_special = (g_nan != e_nan) | (g_inf != e_inf) | (g_inf & e_inf & (g != e))
        if bool(bad_special.any()):
            idx = bad_special.nonzero()[:MAX_INDICES].tolist()
            shown = value_details(got, exp, (g - e).abs(), torch.where(bad_special, torch.inf, 0.0), bad_special)
            return Check(False, "nan", name,
                         f"`{name}` has NaN/Inf where the reference has finite values (or vice versa)",
                         float("inf"), {"mismatches": int(bad_special.sum()), "first_indices": idx, **shown})
        finite = ~(e_nan | e_inf)
        diff = torch.where(finite, (g - e).abs(), torch.zeros_like(g))
        allowed = atol + rtol * e.abs()
        ratio = torch.where(allowed > 0, diff / allowed, torch.where(diff > 0, torch.inf, 0.0))
        rel = torch.where(finite & (e != 0), diff / e.abs(), torch.zeros_like(diff))
    worst = float(ratio.max())
    details: dict[str, Any] = {
        "max_abs_error": float(diff.max()),
        "max_rel_error": float(rel.max()),
        "atol": atol,
        "rtol": rtol,
        "shape": list(exp.shape),
        "dtype": str(exp.dtype).replace("torch.", ""),
    }
    bad = ratio > 1
    if bool(bad.any()):
        details.update(
            mismatches=int(bad.sum()),
            first_indices=bad.nonzero()[:MAX_INDICES].tolist(),
            heatmap=_heat(ratio) if exp.dim() >= 1 and exp.numel() > 1 else None,
        )
        # Expected vs got (only kept for public cases, see core.feedback).
        details.update(value_details(got, exp, diff, ratio, bad))
        if details["heatmap"]:
            details["heatmap_axes"] = heat_axes(list(exp.shape), len(details["heatmap"]), len(details["heatmap"][0]))
        return Check(False, kind, name,
                     f"`{name}`: {int(bad.sum())} of {exp.numel()} values outside tolerance "
                     f"(max abs error {details['max_abs_error']:.3g}, atol {atol:g}, rtol {rtol:g})",
                     worst, details)
    return Check(True, output=name, error_ratio=worst, details=details)


def compare_case(
    got: dict[str, torch.Tensor],
    got_meta: dict[str, Any],
    exp: dict[str, torch.Tensor],
    exp_meta: dict[str, Any],
    atol: float,
    rtol: float,
    mutable_inputs: list[str] | None = None,
    diagnostics: set[str] | frozenset[str] = frozenset(),
) -> Check:
    """All outputs within tolerance, every input untouched, devices as the reference's.
    Outputs named in `diagnostics` are not part of the check (see `differing`)."""
    mutable = set(mutable_inputs or [])
    worst = 0.0
    for key in sorted(k for k in exp if k.startswith("out.")):
        name = key[4:]
        if name in diagnostics:
            continue
        if key not in got:
            return Check(False, "missing", name, f"output `{name}` is missing", float("inf"))
        exp_dev = exp_meta.get("devices", {}).get(name)
        got_dev = got_meta.get("devices", {}).get(name)
        if exp_dev and got_dev and exp_dev != got_dev:
            return Check(False, "device", name, f"`{name}` is on {got_dev}, expected {exp_dev}", float("inf"))
        check = compare_tensor(name, got[key], exp[key], atol, rtol)
        if not check.ok:
            if "values" in check.details:  # a small output: show the inputs beside it
                check.details["inputs"] = input_values(exp)
            return check
        worst = max(worst, check.error_ratio)
    exp_inputs = exp_meta.get("input_meta", {})
    got_inputs = got_meta.get("input_meta", {})
    for name, meta in exp_inputs.items():
        if name in mutable:
            continue
        theirs = got_inputs.get(name, {})
        if theirs.get("requires_grad") != meta.get("requires_grad"):
            return Check(False, "mutation", name,
                         f"input `{name}`: requires_grad changed from {meta.get('requires_grad')} "
                         f"to {theirs.get('requires_grad')}", float("inf"))
        if theirs.get("has_grad") != meta.get("has_grad"):
            return Check(False, "mutation", name, f"input `{name}`: its .grad was changed", float("inf"))
        # An input (or its .grad) the child found bit for bit as it was before the call is not
        # sent back ("unchanged"): it was generated as the reference's was, from the same seed.
        a, b = got.get(f"in.{name}"), exp.get(f"in.{name}")
        if b is not None and not theirs.get("unchanged") and (a is None or not same_bits(a, b)):
            return Check(False, "mutation", name, f"input `{name}` was modified in place", float("inf"))
        ga, gb = got.get(f"ingrad.{name}"), exp.get(f"ingrad.{name}")
        if gb is not None and not theirs.get("grad_unchanged") and (ga is None or not same_bits(ga, gb)):
            return Check(False, "mutation", name, f"input `{name}`: its .grad was changed", float("inf"))
    return Check(True, error_ratio=worst)


def differing(got: dict[str, torch.Tensor], exp: dict[str, torch.Tensor], names: list[str], atol: float,
              rtol: float) -> list[str]:
    """Which of the outputs `names` are missing from `got` or differ from `exp` beyond tolerance."""
    out = []
    for name in names:
        a, b = got.get(f"out.{name}"), exp.get(f"out.{name}")
        if b is None:
            continue  # the reference did not return it: nothing to say
        if a is None or not compare_tensor(name, a, b, atol, rtol).ok:
            out.append(name)
    return out

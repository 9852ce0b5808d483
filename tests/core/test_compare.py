"""Comparison outside the sandbox: each check fails on exactly what it should."""

from __future__ import annotations

import torch

from core.compare import compare_case, compare_tensor


def test_within_and_outside_tolerance() -> None:
    e = torch.tensor([1.0, 2.0, 3.0])
    assert compare_tensor("y", e + 1e-7, e, 1e-5, 1e-5).ok
    bad = e.clone()
    bad[2] += 0.1
    check = compare_tensor("y", bad, e, 1e-5, 1e-5)
    assert not check.ok and check.check == "value"
    assert check.details["first_indices"] == [[2]]
    assert check.details["mismatches"] == 1
    assert abs(check.details["max_abs_error"] - 0.1) < 1e-6


def test_shape_dtype_and_nan() -> None:
    e = torch.zeros(2, 3)
    assert compare_tensor("y", torch.zeros(3, 2), e, 1, 1).check == "shape"
    assert compare_tensor("y", torch.zeros(2, 3, dtype=torch.float64), e, 1, 1).check == "dtype"
    g = e.clone()
    g[0, 1] = float("nan")
    check = compare_tensor("y", g, e, 1e9, 1e9)  # NaN fails whatever the tolerance
    assert check.check == "nan" and check.details["first_indices"] == [[0, 1]]
    both = torch.tensor([float("nan"), float("inf")])
    assert compare_tensor("y", both.clone(), both, 0, 0).ok
    assert not compare_tensor("y", torch.tensor([float("nan"), -float("inf")]), both, 0, 0).ok


def test_gradient_outputs_are_labelled() -> None:
    e = torch.ones(4)
    assert compare_tensor("grad_input", e * 2, e, 1e-3, 0).check == "gradient"


def test_heatmap_is_bounded() -> None:
    e = torch.zeros(100, 100)
    g = e.clone()
    g[50:, :] = 1
    check = compare_tensor("y", g, e, 1e-3, 0)
    heat = check.details["heatmap"]
    assert len(heat) == 16 and len(heat[0]) == 16
    assert heat[0][0] == 0 and heat[-1][-1] > 1


def test_input_mutation_requires_grad_and_grad() -> None:
    x = torch.arange(4.0)
    exp = {"out.y": x * 2, "in.x": x.clone()}
    exp_meta = {"input_meta": {"x": {"requires_grad": False, "has_grad": False}}}
    good = {"out.y": x * 2, "in.x": x.clone()}
    assert compare_case(good, exp_meta, exp, exp_meta, 0, 0).ok
    mutated = {"out.y": x * 2, "in.x": x + 1}
    check = compare_case(mutated, exp_meta, exp, exp_meta, 0, 0)
    assert check.check == "mutation" and "modified in place" in check.message
    assert compare_case(mutated, exp_meta, exp, exp_meta, 0, 0, mutable_inputs=["x"]).ok
    flag = {"input_meta": {"x": {"requires_grad": True, "has_grad": False}}}
    assert "requires_grad" in compare_case(good, flag, exp, exp_meta, 0, 0).message
    missing = compare_case({"in.x": x.clone()}, exp_meta, exp, exp_meta, 0, 0)
    assert missing.check == "missing"
    # The sandbox leaves out an input it found unchanged, and says so in its meta; an input
    # left out without that word is a mutation.
    unchanged = {"input_meta": {"x": {"requires_grad": False, "has_grad": False, "unchanged": True}}}
    assert compare_case({"out.y": x * 2}, unchanged, exp, exp_meta, 0, 0).ok
    assert compare_case({"out.y": x * 2}, exp_meta, exp, exp_meta, 0, 0).check == "mutation"


def test_identical_outputs_take_the_short_way_and_nans_the_long_one() -> None:
    x = torch.randn(4, 5, dtype=torch.float32)
    same = compare_tensor("out", x.clone(), x, 1e-5, 1e-5)
    assert same.ok and same.error_ratio == 0 and same.details["max_abs_error"] == 0.0
    y = x.clone()
    y[1, 2] = float("nan")
    assert compare_tensor("out", y.clone(), y, 1e-5, 1e-5).ok  # NaN where the reference has NaN
    z = y.clone()
    z[0, 0] += 1.0
    assert not compare_tensor("out", z, y, 1e-5, 1e-5).ok


def test_finite_and_special_paths_agree_on_finite_values() -> None:
    # The all-finite fast path and the NaN/Inf-aware path judge finite elements alike: the
    # same tensors with one matching Inf appended (which forces the second path) give the same
    # worst ratio, errors and mismatch count, for atol > 0 and for atol = 0 with zeros expected.
    torch.manual_seed(0)
    exp = torch.randn(300)
    exp[:7] = 0.0
    got = exp + 1e-4 * torch.randn(300)
    for atol, rtol in ((1e-4, 1e-4), (0.0, 1e-3)):
        fast = compare_tensor("y", got, exp, atol, rtol)
        inf = torch.tensor([float("inf")])
        slow = compare_tensor("y", torch.cat([got, inf]), torch.cat([exp, inf]), atol, rtol)
        assert fast.ok == slow.ok
        assert fast.error_ratio == slow.error_ratio
        for key in ("max_abs_error", "max_rel_error", "mismatches"):
            assert fast.details.get(key) == slow.details.get(key), key
    assert compare_tensor("y", got, exp, 0.0, 1e-3).error_ratio == float("inf")  # zeros, atol 0

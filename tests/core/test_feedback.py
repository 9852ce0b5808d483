"""Expected-vs-got details from the comparison (core.feedback through core.compare)."""

from __future__ import annotations

import json

import torch

from core.compare import compare_case, compare_tensor
from core.feedback import SMALL, WORST


def test_small_output_comes_whole_with_its_mismatches_and_inputs() -> None:
    exp = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    got = exp.clone()
    got[1, 2] += 1
    got[2, 3] = float("nan")
    check = compare_case({"out.y": got}, {}, {"out.y": exp, "in.x": torch.ones(2, 3)}, {}, 1e-5, 1e-5)
    assert not check.ok and check.check == "nan"
    values = check.details["values"]
    assert values["shape"] == [3, 4] and values["expected"][6] == 6.0 and values["got"][6] == 7.0
    assert values["got"][11] == "nan" and values["mismatch"] == [11]  # the NaN check comes first
    assert check.details["inputs"]["x"] == {"shape": [2, 3], "dtype": "float32", "values": [1.0] * 6}
    json.dumps(check.details)  # travels as JSON: no NaN floats
    got[2, 3] = 11
    value = compare_tensor("y", got, exp, 1e-5, 1e-5)
    assert value.check == "value" and value.details["values"]["mismatch"] == [6]


def test_large_output_gives_worst_elements_slice_and_heat_axes() -> None:
    torch.manual_seed(0)
    exp = torch.randn(4, 8, 16)
    got = exp.clone()
    got[2, 3, 5:9] += torch.tensor([1.0, 4.0, 2.0, 3.0])
    got[0, 0, 0] += 0.5
    check = compare_tensor("h", got, exp, 1e-5, 1e-5)
    assert exp.numel() > SMALL and "values" not in check.details
    worst = check.details["worst"]
    assert len(worst) == min(WORST, 5) and worst[0]["index"] == [2, 3, 6]  # the largest error first
    assert [w["index"] for w in worst[:4]] == [[2, 3, 6], [2, 3, 8], [2, 3, 7], [2, 3, 5]]
    assert abs(worst[0]["got"] - worst[0]["expected"] - 4.0) < 1e-4
    part = check.details["slice"]  # the first mismatch is [0, 0, 0]
    assert part["index"] == [0, 0] and part["start"] == 0 and part["mismatch"] == [0]
    assert len(part["expected"]) == len(part["got"]) == 16
    axes = check.details["heatmap_axes"]
    assert axes["cols"] == "dim 2 (size 16)" and "32 rows" in axes["rows"]
    assert axes["pooled"] == [len(check.details["heatmap"]), len(check.details["heatmap"][0])]


def test_passing_outputs_carry_no_values() -> None:
    exp = torch.ones(3)
    check = compare_tensor("y", exp + 1e-9, exp, 1e-5, 1e-5)
    assert check.ok and "values" not in check.details and "worst" not in check.details

"""`tensorjudge problem new SLUG`: a new problem package that validates as it stands.

The scaffold is a small but complete problem (a temperature softmax over the last dimension)
written the way a real one should be: a driver on the authoring kit with typed params,
`[case_defaults]`, public and hidden cases, two accepted solutions and two that must fail.
An author replaces the contents and keeps the shape.
"""

from __future__ import annotations

from pathlib import Path
from string import Template

from core.errors import ProblemError
from core.problem import SLUG_RE

_PROBLEM_TOML = '''\
# Every field and its default: docs/problem-format.md
slug = "$slug"
title = "$title"
entry_points = ["solution:softmax"]
tags = ["starter"]
difficulty = "easy"

[limits]
wall_time_s = 60
case_time_s = 20

# Applied to every case below; a case's own value wins (params merge key by key).
[case_defaults]
dtype = "float32"
device = "any"
points = 1

[[cases]]
name = "small"
visibility = "public"
seed = 1
params = { rows = 2, cols = 5 }

[[cases]]
name = "temperature"
seed = 2
params = { rows = 4, cols = 7, temperature = 0.5 }

[[cases]]
name = "wide_float64"
seed = 3
dtype = "float64"
params = { rows = 3, cols = 64, temperature = 2.0 }

# A timed case compares the submission's median time with the reference's ([timing]):
# [[cases]]
# name = "timed"
# seed = 4
# timed = true
# params = { rows = 512, cols = 1024 }
'''

_STATEMENT = '''\
# $title

Write `softmax(x, temperature=1.0)`: for a tensor `x` of shape `[rows, cols]`, return

$$$$y_{ij} = \\frac{\\exp(x_{ij} / T)}{\\sum_k \\exp(x_{ik} / T)}$$$$

with $$T$$ the temperature, over the last dimension, in the dtype and on the device of `x`.
Do not modify `x`.
'''

_STARTER = '''\
import torch


def softmax(x: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Softmax of x / temperature over the last dimension."""
    raise NotImplementedError
'''

_REFERENCE = '''\
import torch


def softmax(x: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Softmax of x / temperature over the last dimension."""
    return torch.softmax(x / temperature, dim=-1)
'''

_DRIVER = '''\
"""Driver for $slug: builds the inputs of a case and calls the submission (or the reference).

It runs inside the sandbox, in the submission's process: only what run() returns is compared
outside, so every property that must hold is in those outputs.
"""

from dataclasses import dataclass

from sandbox import kit


@dataclass(frozen=True)
class Params:
    """A case's params in problem.toml (checked against this class when the package loads)."""

    rows: int
    cols: int
    temperature: float = 1.0


def generate_inputs(case: kit.CaseContext, seed: int) -> dict:
    """x: [rows, cols], standard normal times 3, drawn on the CPU then placed on the case."""
    p = kit.params(Params, case)
    return {"x": kit.rng(case, seed).randn(p.rows, p.cols, scale=3.0)}


def _call(sub, inputs: dict, case: kit.CaseContext):
    return sub.softmax(inputs["x"], temperature=kit.params(Params, case).temperature)


def run(sub, inputs: dict, case: kit.CaseContext) -> dict:
    """output and output_second_call: a second call must not see state from the first."""
    return kit.call_twice(lambda: _call(sub, inputs, case))


timed = kit.timed(_call)
'''

_SOLUTIONS = {
    "accepted/torch_softmax.py": _REFERENCE,
    "accepted/manual.py": '''\
import torch


def softmax(x: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    z = x / temperature
    z = z - z.amax(dim=-1, keepdim=True)  # shift for stability; the result is unchanged
    e = torch.exp(z)
    return e / e.sum(dim=-1, keepdim=True)
''',
    "wrong_answer/wrong_dim.py": '''\
import torch


def softmax(x: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    return torch.softmax(x / temperature, dim=0)  # normalises columns, not rows
''',
    "wrong_answer/ignores_temperature.py": '''\
import torch


def softmax(x: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    return torch.softmax(x, dim=-1)
''',
}


def scaffold(slug: str, parent: Path) -> Path:
    """Write a new package parent/slug and return its path; refuses to overwrite anything."""
    if not SLUG_RE.match(slug):
        raise ProblemError(f"{slug!r}: slugs use lowercase letters, digits and '-'")
    root = parent / slug
    if root.exists():
        raise ProblemError(f"{root}: already exists")
    values = {"slug": slug, "title": slug.replace("-", " ").capitalize()}
    files = {
        "problem.toml": _PROBLEM_TOML,
        "statement.md": _STATEMENT,
        "starter.py": _STARTER,
        "reference.py": _REFERENCE,
        "driver.py": _DRIVER,
        **{f"solutions/{name}": text for name, text in _SOLUTIONS.items()},
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(text).substitute(values))
    return root

"""Static checks: syntax errors and forbidden names/imports, without false hits on the obvious."""

from __future__ import annotations

from core.problem import Rules
from core.static_check import check_files, check_source

AUTOGRAD = Rules(forbid_autograd=True)


def test_syntax_error_names_file_and_line() -> None:
    finding = check_source("solution.py", "def f(:\n  pass\n", Rules())
    assert finding is not None and finding.kind == "syntax"
    assert "solution.py, line 1" in finding.message


def test_autograd_names_are_rule_hits() -> None:
    for src in (
        "import torch\ntorch.autograd.grad(y, x)\n",
        "from torch.autograd import grad\n",
        "import torch\nwith torch.enable_grad():\n    pass\n",
        "import torch\nf = getattr(torch, 'enable_grad')\n",
        "from torch import func\nfunc.vjp\n",
    ):
        finding = check_source("s.py", src, AUTOGRAD)
        assert finding is not None and finding.kind == "rule", src


def test_own_backward_method_and_no_grad_are_fine() -> None:
    src = (
        "import torch\nclass L:\n    def backward(self, g):\n        return g @ self.W.T\n"
        "    def step(self):\n        with torch.no_grad():\n            self.W -= self.W_grad\n"
    )
    assert check_source("s.py", src, AUTOGRAD) is None


def test_forbidden_imports_and_tracer_escapes() -> None:
    rules = Rules(forbidden_imports=["torch.nn.functional"])
    assert check_source("s.py", "import torch.nn.functional as F\n", rules) is not None
    assert check_source("s.py", "from torch.nn.functional import linear\n", rules) is not None
    assert check_source("s.py", "import torch\n", rules) is None
    escape = "import torch\nwith torch._C.DisableTorchFunction():\n    pass\n"
    assert check_source("s.py", escape, rules) is not None


def test_check_files_reports_non_utf8() -> None:
    finding = check_files({"a.py": b"\xff\xfe"}, Rules())
    assert finding is not None and "UTF-8" in finding.message

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


# ---- scoped to the entry points (course files keep autograd code next to the graded class) ----

MANUAL = Rules(forbid_autograd=True, forbidden_names=["torch.autograd", "requires_grad_", "enable_grad"])

COURSE_STYLE_DEMO = '''
import torch


class ManualLinear:
    def __init__(self, in_dim, out_dim, device=None, dtype=torch.float32):
        self.W = torch.randn(in_dim, out_dim, device=device, dtype=dtype)

    def forward(self, x):
        self.x = x
        return x @ self.W

    def backward(self, g):
        self.W_grad = self.x.reshape(-1, self.W.shape[0]).T @ g.reshape(-1, self.W.shape[1])
        return g @ self.W.T


class AutogradLinear(torch.nn.Module):
    def __init__(self, w):
        super().__init__()
        self.W = torch.nn.Parameter(w.clone().requires_grad_())

    def forward(self, x):
        return x @ self.W


def compare(x):
    with torch.enable_grad():
        return torch.autograd.grad((AutogradLinear(x)(x) ** 2).sum(), x)


if __name__ == "__main__":
    x = torch.randn(2, 3, 4).requires_grad_()
    torch.autograd.backward(compare(x))
'''

DEMO_ENTRY = [("src.demo", "ManualLinear")]


def test_course_demo_with_autograd_class_and_self_test_is_not_a_violation() -> None:
    files = {"src/demo.py": COURSE_STYLE_DEMO.encode()}
    assert check_files(files, MANUAL, DEMO_ENTRY) is None
    # The same file scanned whole (no entry points) is a hit: the scoping is what spares it.
    assert check_files(files, MANUAL) is not None


def _demo_with(body: str, extra: str = "") -> dict[str, bytes]:
    src = f"import torch\n{extra}\n\nclass ManualLinear:\n    def backward(self, g):\n{body}\n"
    return {"src/demo.py": src.encode()}


def test_same_module_helpers_and_aliases_of_the_entry_point_are_scanned() -> None:
    helper = "def _grads(y, x):\n    return torch.autograd.grad(y, x)\n"
    finding = check_files(_demo_with("        return _grads(g, g)", helper), MANUAL, DEMO_ENTRY)
    assert finding is not None and finding.kind == "rule" and "torch.autograd" in finding.message
    alias = "_g = torch.autograd.grad\n"
    assert check_files(_demo_with("        return _g(g, g)", alias), MANUAL, DEMO_ENTRY) is not None
    base = "class Base:\n    def go(self):\n        torch.autograd.backward(self)\n"
    src = f"import torch\n{base}\nclass ManualLinear(Base):\n    pass\n"
    assert check_files({"src/demo.py": src.encode()}, MANUAL, DEMO_ENTRY) is not None
    # An unused helper with autograd in it is not the entry point's code.
    assert check_files(_demo_with("        return g", helper), MANUAL, DEMO_ENTRY) is None


def test_helpers_imported_from_other_submitted_files_are_followed() -> None:
    files = {
        "src/__init__.py": b"from .functional import f\n",
        "src/functional.py": b"from .utils import helper\n\ndef f(x):\n    return helper(x)\n",
        "src/utils.py": b"import torch\n\ndef helper(x):\n    return torch.autograd.grad(x, x)\n\n"
                        b"def other(x):\n    return x\n",
    }
    finding = check_files(files, MANUAL, [("src", "f")])
    assert finding is not None and finding.message.startswith("src/utils.py, line 4")
    files["src/functional.py"] = b"from .utils import other\n\ndef f(x):\n    return other(x)\n"
    assert check_files(files, MANUAL, [("src", "f")]) is None
    files["src/functional.py"] = b"from . import utils\n\ndef f(x):\n    return utils.other(x)\n"
    assert check_files(files, MANUAL, [("src.functional", "f")]) is not None


def test_forbidden_imports_count_at_module_level_of_reached_files_only() -> None:
    rules = Rules(forbidden_imports=["transformers"])
    entry = [("src.functional", "rope")]
    used = {"src/functional.py": b"import transformers\n\ndef rope(x):\n    return x\n"}
    assert check_files(used, rules, entry) is not None
    elsewhere = {
        "src/functional.py": b"def rope(x):\n    return x\n",
        "src/modeling/transformer.py": b"import transformers\n",
    }
    assert check_files(elsewhere, rules, entry) is None


def test_tracer_escapes_are_refused_in_any_file() -> None:
    files = {
        "src/demo.py": COURSE_STYLE_DEMO.encode(),
        "src/noise.py": b"import torch\ntorch._C._disable_torch_function(print)\n",
    }
    finding = check_files(files, MANUAL, DEMO_ENTRY)
    assert finding is not None and "src/noise.py" in finding.message


def test_syntax_errors_count_only_in_reached_files() -> None:
    files = {"src/demo.py": COURSE_STYLE_DEMO.encode(), "src/unfinished.py": b"def f(:\n"}
    assert check_files(files, MANUAL, DEMO_ENTRY) is None
    assert check_files(files, Rules(), DEMO_ENTRY) is None
    files["src/demo.py"] = b"class ManualLinear(:\n"
    finding = check_files(files, Rules(), DEMO_ENTRY)
    assert finding is not None and finding.kind == "syntax"


def test_single_module_looks_every_symbol_up_in_the_one_file() -> None:
    src = b"import torch\n\ndef apply(x):\n    return x\n\nclass Rope:\n    def f(self):\n" \
          b"        return torch.autograd.grad\n"
    files = {"src/__init__.py": b"", "src/functional.py": src}
    entries = [("src.functional", "apply"), ("src.modeling.pos_emb", "Rope")]
    assert check_files(files, MANUAL, entries, single_module="src.functional") is not None
    assert check_files(files, MANUAL, entries[:1], single_module="src.functional") is None


def test_package_init_importing_a_banned_library_for_other_modules_is_not_a_hit() -> None:
    # The course's src/modeling/__init__.py imports every sibling; one of them uses transformers.
    rules = Rules(forbidden_imports=["transformers"])
    files = {
        "src/__init__.py": b"",
        "src/modeling/__init__.py": b"import transformers\nfrom .pos_emb import Rope\n",
        "src/modeling/pos_emb.py": b"def helper(x):\n    return x\n\nclass Rope:\n    def f(self, x):\n"
                                   b"        return helper(x)\n",
    }
    entries = [("src.modeling.pos_emb", "Rope"), ("src.modeling", "Rope")]
    assert check_files(files, rules, entries) is None
    # ...but graded code that uses the banned library through the package still is.
    files["src/modeling/pos_emb.py"] = b"from . import transformers\n\nclass Rope:\n    def f(self):\n" \
                                       b"        return transformers.x\n"
    finding = check_files(files, rules, entries)
    assert finding is not None and "transformers" in finding.message

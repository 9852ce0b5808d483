"""Course-layout repositories of our own, written out for tests: a `src/` package with relative
imports and `__init__` files that import every sibling module, as the course's template has."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

FUNCTIONAL = "import torch\n\n\ndef scale(x: torch.Tensor, alpha: float) -> torch.Tensor:\n    return x * alpha\n"
LAYER = (
    "import torch\n\nfrom ..functional import scale\n\n\n"
    "class Scaler(torch.nn.Module):\n"
    "    def __init__(self, alpha):\n        super().__init__()\n        self.alpha = alpha\n\n"
    "    def forward(self, x):\n        return scale(x, self.alpha)\n"
)
SRC_INIT = "from .functional import scale\n\n__all__ = ['scale']\n"
MODELING_INIT = "from .layer import Scaler\n\n__all__ = ['Scaler']\n"
# An unfinished sibling module that the package's __init__ imports, with a course-environment
# dependency the judge may lack and a TODO that raises at import.
UNFINISHED = "import not_a_package_of_this_environment  # noqa: F401\n\nraise NotImplementedError('TODO')\n"


def course_repo(root: Path, *, noisy: bool = False, extra: dict[str, str] | None = None) -> Path:
    """Write a student's repository (README, tests, .git, src/...) under root; returns root."""
    files = {
        "README.md": "# my assignment\n",
        "requirements.txt": "torch\n",
        "test_toy.py": "from src import scale\n\n\ndef test_scale():\n    assert scale\n",
        ".git/HEAD": "ref: refs/heads/main\n",
        ".git/objects/ab/cdef": "blob",
        "src/__init__.py": SRC_INIT,
        "src/functional.py": FUNCTIONAL,
        "src/modeling/__init__.py": MODELING_INIT,
        "src/modeling/layer.py": LAYER,
        "src/__pycache__/functional.cpython-311.pyc": "\0\0",
    }
    if noisy:
        files["src/modeling/__init__.py"] = MODELING_INIT + "from .attention import *  # noqa: F403\n"
        files["src/modeling/attention.py"] = UNFINISHED
        files["src/__init__.py"] = SRC_INIT + "from .modeling import *  # noqa: F403\n"
    files.update(extra or {})
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def zip_tree(root: Path, top: str = "") -> bytes:
    """The tree as a zip, optionally under one extra top folder (as a "Download ZIP" makes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                zf.write(path, f"{top}{path.relative_to(root).as_posix()}")
    return buf.getvalue()


def tree_files(root: Path) -> dict[str, bytes]:
    """Every file under root as {relative path: bytes} (what an upload hands the grader)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

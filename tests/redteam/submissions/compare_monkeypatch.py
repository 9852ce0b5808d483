"""Patches every comparison it can find, then returns zeros. Expected: wrong_answer."""
import sys

import torch


def _yes(*args, **kwargs):
    return True


torch.allclose = _yes
torch.equal = _yes
torch.isclose = lambda a, b, *x, **k: torch.ones_like(a, dtype=torch.bool)
torch.Tensor.__eq__ = lambda a, b: torch.ones_like(a, dtype=torch.bool)
torch.testing.assert_close = lambda *a, **k: None


class _FakeTorch:
    def __getattr__(self, name):
        return _yes if name in ("allclose", "equal") else getattr(torch, name)


sys.modules["torch"] = _FakeTorch()


def matmul_with_multi_head(input, weight, num_heads=1):
    b, s, h = input.shape
    return torch.zeros(b, s, num_heads, weight.shape[1], dtype=input.dtype)

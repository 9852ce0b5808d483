"""Student helpers for attention: a softmax that is safe on fully masked rows and the two
online-softmax corrections (the merge is done in float64 here)."""

import torch
import torch.nn.functional as F


def safe_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax in float32; rows that are -inf everywhere give zeros."""
    all_masked = torch.isneginf(x).all(dim=dim, keepdim=True)
    return F.softmax(x.float(), dim=dim).masked_fill(all_masked, 0.0)


def merge_lse(lse1: torch.Tensor, lse2: torch.Tensor) -> torch.Tensor:
    """log(exp(lse1) + exp(lse2)), computed in float64."""
    a, b = lse1.double(), lse2.double()
    top = torch.maximum(a, b)
    low = torch.minimum(a, b)
    both_masked = torch.isneginf(top)
    diff = torch.where(both_masked, torch.zeros_like(top), low - top)
    out = top + F.softplus(diff)
    return torch.where(both_masked, top, out)


def merge_output(o1, lse1, o2, lse2, lse):
    """exp(lse1 - lse) * o1 + exp(lse2 - lse) * o2 with [b, h, s] lse and [b, s, h, d] outputs."""
    masked = torch.isneginf(lse.double())

    def weight(part):
        w = torch.exp(torch.where(masked, torch.zeros_like(lse.double()), part.double() - lse.double()))
        w = torch.where(masked, torch.zeros_like(w), w)
        return w.permute(0, 2, 1).unsqueeze(-1)

    return weight(lse1) * o1.double() + weight(lse2) * o2.double()

"""Returns a tensor subclass that claims to equal anything. Expected: wrong_answer."""
import torch


class Liar(torch.Tensor):
    def __eq__(self, other):
        return True

    def allclose(self, *args, **kwargs):
        return True


def matmul_with_multi_head(input, weight, num_heads=1):
    b, s, h = input.shape
    return torch.zeros(b, s, num_heads, weight.shape[1], dtype=input.dtype).as_subclass(Liar)

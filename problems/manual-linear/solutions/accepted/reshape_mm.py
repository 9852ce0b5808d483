# Flatten the leading dims and use 2-D matrix products; functional (out-of-place) update.
import math

import torch


class ManualLinear:
    def __init__(self, in_dim: int, out_dim: int, device=None, dtype=torch.float32):
        self.in_dim, self.out_dim = in_dim, out_dim
        bound = 1.0 / math.sqrt(in_dim)
        self.W = torch.empty(in_dim, out_dim, device=device, dtype=dtype).uniform_(-bound, bound)
        self.W_grad = None
        self._x2 = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        self._x2 = x.reshape(-1, self.in_dim)
        return torch.mm(self._x2, self.W).reshape(*lead, self.out_dim)

    def backward(self, grad_output: torch.Tensor) -> torch.Tensor:
        lead = grad_output.shape[:-1]
        g2 = grad_output.reshape(-1, self.out_dim)
        self.W_grad = torch.mm(self._x2.t(), g2)
        return torch.mm(g2, self.W.t()).reshape(*lead, self.in_dim)

    def step(self, lr: float = 1e-2) -> None:
        self.W = self.W - lr * self.W_grad

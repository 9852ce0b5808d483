"""Instructor reference for manual-linear (never shipped to a sandbox)."""

import math

import torch


class ManualLinear:
    """A bias-free linear layer y = x @ W with a hand-written backward pass."""

    def __init__(self, in_dim: int, out_dim: int, device=None, dtype=torch.float32):
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.W = torch.randn(in_dim, out_dim, device=device, dtype=dtype) / math.sqrt(in_dim)
        self.W_grad = None
        self._x = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._x = x
        return torch.matmul(x, self.W)

    def backward(self, grad_output: torch.Tensor) -> torch.Tensor:
        x2d = self._x.reshape(-1, self.in_dim)
        g2d = grad_output.reshape(-1, self.out_dim)
        # dL/dW = sum over every (batch, position) row of x_row^T g_row
        self.W_grad = torch.matmul(x2d.transpose(0, 1), g2d)
        # dL/dx = g W^T, row by row
        return torch.matmul(grad_output, self.W.transpose(0, 1))


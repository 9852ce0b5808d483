# RUNTIME ERROR: W is an nn.Parameter of an nn.Module, and step() tries to rebind it to a
# plain tensor (self.W = self.W - ...), which nn.Module refuses with a TypeError.
import torch
from torch import nn


class ManualLinear(nn.Module):
    def __init__(self, in_dim, out_dim, device=None, dtype=torch.float32):
        super().__init__()
        self.W = nn.Parameter(torch.randn(in_dim, out_dim, device=device, dtype=dtype),
                              requires_grad=False)
        self.W_grad = None
        self.x = None

    def forward(self, x):
        self.x = x
        return x @ self.W

    def backward(self, grad_output):
        self.W_grad = torch.einsum("bhd,bhe->de", self.x, grad_output)
        return grad_output @ self.W.T

    def step(self, lr=1e-2):
        self.W = self.W - lr * self.W_grad

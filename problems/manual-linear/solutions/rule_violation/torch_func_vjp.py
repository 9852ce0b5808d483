# RULE: uses torch.func.vjp to obtain both gradients.
import torch
from torch.func import vjp


class ManualLinear:
    def __init__(self, in_dim, out_dim, device=None, dtype=torch.float32):
        self.W = torch.randn(in_dim, out_dim, device=device, dtype=dtype) * 0.05
        self.W_grad = None
        self.x = None

    def forward(self, x):
        self.x = x
        return x @ self.W

    def backward(self, grad_output):
        _, pullback = vjp(torch.matmul, self.x, self.W)
        gx, gw = pullback(grad_output)
        self.W_grad = gw
        return gx

    def step(self, lr=1e-2):
        self.W = self.W - lr * self.W_grad

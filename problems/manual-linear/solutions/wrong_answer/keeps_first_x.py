# BUG: the input is cached only on the first forward call, so later backward calls use a
# stale x for the weight gradient.
import torch


class ManualLinear:
    def __init__(self, in_dim, out_dim, device=None, dtype=torch.float32):
        self.W = torch.randn(in_dim, out_dim, device=device, dtype=dtype) * 0.05
        self.W_grad = None
        self.x = None

    def forward(self, x):
        if self.x is None:
            self.x = x
        return x @ self.W

    def backward(self, grad_output):
        self.W_grad = torch.einsum("bhd,bhe->de", self.x, grad_output)
        return grad_output @ self.W.T

    def step(self, lr=1e-2):
        self.W = self.W - lr * self.W_grad

# BUG: after the backward pass the cached input is "freed" with an in-place zero_(), which
# wipes the caller's tensor x. Every returned value is right; the mutation check fails.
import torch


class ManualLinear:
    def __init__(self, in_dim, out_dim, device=None, dtype=torch.float32):
        self.W = torch.randn(in_dim, out_dim, device=device, dtype=dtype) * 0.05
        self.W_grad = None
        self.x = None

    def forward(self, x):
        self.x = x
        return x @ self.W

    def backward(self, grad_output):
        self.W_grad = torch.einsum("bhd,bhe->de", self.x, grad_output)
        grad_input = grad_output @ self.W.T
        self.x.zero_()
        return grad_input

    def step(self, lr=1e-2):
        self.W = self.W - lr * self.W_grad

# BUG: W_grad is averaged over the b*h rows instead of summed. Only right when b = h = 1.
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
        per_row = torch.einsum("bhd,bhe->bhde", self.x, grad_output)
        self.W_grad = per_row.mean(dim=(0, 1))
        return grad_output @ self.W.T

    def step(self, lr=1e-2):
        self.W = self.W - lr * self.W_grad

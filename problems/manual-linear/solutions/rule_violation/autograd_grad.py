# RULE: uses torch.autograd.grad (forbidden both statically and at runtime).
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
        with torch.enable_grad():
            xr = self.x.detach().requires_grad_()
            wr = self.W.detach().requires_grad_()
            y = xr @ wr
            gx, gw = torch.autograd.grad(y, (xr, wr), grad_outputs=grad_output)
        self.W_grad = gw
        return gx

    def step(self, lr=1e-2):
        self.W = self.W - lr * self.W_grad

# RULE: lets autograd do the work through Tensor.backward on detached copies that require grad.
# Nothing in the source matches the static list; the runtime tracer catches it.
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
        xr = self.x.detach().clone()
        wr = self.W.detach().clone()
        xr.requires_grad = True
        wr.requires_grad = True
        y = xr @ wr
        y.backward(grad_output)
        self.W_grad = wr.grad.detach()
        return xr.grad.detach()

    def step(self, lr=1e-2):
        self.W = self.W - lr * self.W_grad

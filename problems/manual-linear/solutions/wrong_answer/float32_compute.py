# BUG: everything is computed in float32 and cast back to the input dtype. Exact enough for
# float32 inputs, but float64 results lose about 9 significant digits.
import torch


class ManualLinear:
    def __init__(self, in_dim, out_dim, device=None, dtype=torch.float32):
        self.W = torch.randn(in_dim, out_dim, device=device, dtype=dtype) * 0.05
        self.W_grad = None
        self.x = None

    def forward(self, x):
        self.x = x
        return (x.float() @ self.W.float()).to(x.dtype)

    def backward(self, grad_output):
        g = grad_output.float()
        x = self.x.float()
        dt = grad_output.dtype
        self.W_grad = torch.einsum("bhd,bhe->de", x, g).to(dt)
        return (g @ self.W.float().T).to(dt)

    def step(self, lr=1e-2):
        self.W = (self.W.float() - lr * self.W_grad.float()).to(self.W.dtype)

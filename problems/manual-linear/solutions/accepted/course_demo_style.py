# The course's A0 file shape: the graded ManualLinear next to an autograd twin used only for
# comparison, and a self-test under `if __name__ == "__main__":` that runs both. The rule
# (no autograd) covers ManualLinear's code only, so this is accepted.
import torch
import torch.nn as nn


class ManualLinear:
    def __init__(self, in_dim, out_dim, device=None, dtype=torch.float32):
        self.W = torch.randn(in_dim, out_dim, device=device, dtype=dtype, requires_grad=False)
        self.W_grad = torch.zeros_like(self.W)

    def forward(self, x):
        self.input = x
        return x @ self.W

    def backward(self, grad_output):
        d, e = self.W.shape
        self.W_grad = self.input.reshape(-1, d).T @ grad_output.reshape(-1, e)
        return grad_output @ self.W.T


class AutogradLinear(nn.Module):
    def __init__(self, weight):
        super().__init__()
        self.W = nn.Parameter(weight.detach().clone())

    def forward(self, x):
        return x @ self.W


if __name__ == "__main__":
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4)
    manual = ManualLinear(4, 5)
    auto = AutogradLinear(manual.W)
    y = manual.forward(x)
    grad_x = manual.backward(2 * y)
    x_auto = x.clone().requires_grad_(True)
    (auto(x_auto) ** 2).sum().backward()
    print(torch.allclose(grad_x, x_auto.grad, atol=1e-5), torch.allclose(manual.W_grad, auto.W.grad, atol=1e-5))

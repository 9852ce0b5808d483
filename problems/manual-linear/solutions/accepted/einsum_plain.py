# Plain class, einsum everywhere, in-place SGD update.
import torch


class ManualLinear:
    def __init__(self, in_dim, out_dim, device=None, dtype=torch.float32):
        self.W = 0.02 * torch.randn(in_dim, out_dim, device=device, dtype=dtype)
        self.W_grad = None
        self.cache = None

    def forward(self, x):
        self.cache = x
        return torch.einsum("bhd,de->bhe", x, self.W)

    def backward(self, grad_output):
        x = self.cache
        self.W_grad = torch.einsum("bhd,bhe->de", x, grad_output)
        return torch.einsum("bhe,de->bhd", grad_output, self.W)

    def step(self, lr=1e-2):
        self.W -= lr * self.W_grad

import torch


class ManualLinear:
    """A bias-free linear layer y = x @ W with a hand-written backward pass.

    Autograd is not allowed: compute every gradient yourself.
    """

    def __init__(self, in_dim: int, out_dim: int, device=None, dtype=torch.float32):
        # TODO: create self.W with shape [in_dim, out_dim] (random values, given device and
        # dtype, not requiring grad) and set self.W_grad = None.
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [b, h, in_dim] -> y: [b, h, out_dim]. Remember what backward will need."""
        # TODO
        raise NotImplementedError

    def backward(self, grad_output: torch.Tensor) -> torch.Tensor:
        """grad_output: [b, h, out_dim] -> grad_input: [b, h, in_dim].

        Also set self.W_grad (shape [in_dim, out_dim]); overwrite it, never accumulate.
        """
        # TODO
        raise NotImplementedError


import torch
import torch.nn as nn
import torch.nn.functional as F


class GroupRMSNorm(nn.Module):
    """RMS normalisation applied separately to each contiguous group of hidden channels,
    followed by a learnable per-channel scale."""

    def __init__(
        self,
        hidden_size: int,
        group_size: int,
        eps: float = 1e-5,
        init_range: tuple = (-1.0, 1.0),
        init_seed: int = 42,
        dtype: torch.dtype = torch.float32,
        device: str = "cpu",
    ) -> None:
        """
        Args:
            hidden_size: h, the size of the last dimension of the input.
            group_size: gz, the number of channels per group (h is a multiple of gz).
            eps: added to the mean square of every group before the square root.
            init_range: (low, high) of the uniform distribution the scales are drawn from.
            init_seed: the seed reset_parameters() uses.
            dtype: dtype of the learnable scales.
            device: device of the learnable scales.
        """
        super().__init__()
        raise NotImplementedError("TODO: GroupRMSNorm.__init__")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input: [batch_size, seq_len, hidden_size]

        Returns:
            [batch_size, seq_len, hidden_size], same dtype and device as `input`.
        """
        raise NotImplementedError("TODO: GroupRMSNorm.forward")

    def reset_parameters(self) -> None:
        """Draw the scales from U(init_range) with the seed init_seed."""
        raise NotImplementedError("TODO: GroupRMSNorm.reset_parameters")

import torch
import torch.nn as nn


def apply_rotary_pos_emb(
    input: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
) -> torch.Tensor:
    """Rotate every head of `input` by the angles whose cosines and sines are given.

    Args:
        input: [batch_size, seq_len, num_heads, head_dim]
        cos:   [seq_len, head_dim]
        sin:   [seq_len, head_dim]

    Returns:
        [batch_size, seq_len, num_heads, head_dim], same dtype and device as `input`
        (the arithmetic itself is done in float32).
    """
    raise NotImplementedError("TODO: apply_rotary_pos_emb")


class NTKAwareRoPE(nn.Module):
    def __init__(
        self,
        dim: int,
        max_seq_len: int,
        base: int = 10000,
        ratio: int = 1,
        dynamic: bool = False,
        dtype: torch.dtype = torch.float32,
        device: str = "cpu",
    ) -> None:
        """
        Args:
            dim: the head dimension (even).
            max_seq_len: the training context length.
            base: the RoPE base before NTK scaling.
            ratio: the initial scaling ratio; the tables cover max_seq_len * ratio positions.
            dynamic: whether a longer table built during forward replaces the stored one.
            dtype: dtype of the stored cos/sin tables (the tests pass torch.float32).
            device: device of the stored cos/sin tables.
        """
        super().__init__()
        raise NotImplementedError("TODO: NTKAwareRoPE.__init__")

    def forward(self, input: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """
        Args:
            input: [batch_size, seq_len, num_heads, dim]
            offset: position of the first token of `input`.

        Returns:
            [batch_size, seq_len, num_heads, dim], same dtype and device as `input`.
        """
        raise NotImplementedError("TODO: NTKAwareRoPE.forward")

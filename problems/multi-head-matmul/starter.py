import torch


def matmul_with_multi_head(
    input: torch.Tensor,
    weight: torch.Tensor,
    num_heads: int = 1,
) -> torch.Tensor:
    """Multiply each head's slice of `input` by the matching row block of `weight`.

    Args:
        input: shape [batch_size, seq_len, hidden_size], standard normal.
        weight: shape [hidden_size, embed_size], standard normal.
        num_heads: how many equal, contiguous pieces hidden_size is cut into;
            hidden_size is always divisible by num_heads.

    Returns:
        A tensor of shape [batch_size, seq_len, num_heads, embed_size] with the
        same dtype and device as `input`.
    """
    raise NotImplementedError("implement matmul_with_multi_head")

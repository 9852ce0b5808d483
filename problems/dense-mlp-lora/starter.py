from enum import Enum
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


class MLPActivationType(Enum):
    RELU = "relu"
    GELU = "gelu"
    SILU = "silu"
    SIGMOID = "sigmoid"
    BILINEAR = "bilinear"


class DenseMLPWithLoRA(nn.Module):
    """GLU-style dense MLP with an optional LoRA adapter."""

    def __init__(
        self,
        hidden_size: int,
        ffh_size: int,
        activation_type: MLPActivationType = MLPActivationType.SILU,
        init_base_seed: int = 42,
        lora_rank: int = 0,
        lora_alpha: Optional[float] = None,
        lora_dropout_rate: float = 0.0,
        lora_dropout_seed: int = 42,
        lora_init_base_seed: int = 42,
        dtype: torch.dtype = torch.float32,
        device: str = "cpu",
    ):
        """
        Args:
            hidden_size: h, the width of the input and of the output.
            ffh_size: ffh, the width of the up/gate projections.
            activation_type: the gate's activation (see the statement).
            init_base_seed: seeds of up/gate/down are init_base_seed + 1 / + 2 / + 3.
            lora_rank: r; 0 means no LoRA adapter at all.
            lora_alpha: alpha; None means alpha = r.
            lora_dropout_rate: dropout rate p of the LoRA branch.
            lora_dropout_seed: seed set right before the LoRA dropout, on every forward call.
            lora_init_base_seed: seeds of A / B are lora_init_base_seed + 1 / + 2.
            dtype: dtype of every parameter (the computation runs in it).
            device: device of every parameter (the computation runs on it).
        """
        super().__init__()
        raise NotImplementedError("TODO: DenseMLPWithLoRA.__init__")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input: [batch_size, seq_len, hidden_size], any device and dtype.

        Returns:
            [batch_size, seq_len, hidden_size], with input's dtype and device.
        """
        raise NotImplementedError("TODO: DenseMLPWithLoRA.forward")

    def reset_parameters(self):
        """Draw every parameter from its seed (called once by __init__)."""
        raise NotImplementedError("TODO: DenseMLPWithLoRA.reset_parameters")

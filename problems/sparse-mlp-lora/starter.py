from enum import Enum
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributed import ProcessGroup


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


class SparseMLPWithLoRA(nn.Module):
    """Mixture-of-experts MLP whose experts are DenseMLPWithLoRA modules."""

    def __init__(
        self,
        hidden_size: int,
        ffh_size: int,
        activation_type: MLPActivationType = MLPActivationType.SILU,
        num_experts: int = 1,
        moe_topk: int = 1,
        rank: int = 0,
        world_size: int = 1,
        process_group: Optional[ProcessGroup] = None,
        init_mean: float = 0.0,
        init_std: float = 1.0,
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
            hidden_size: h.
            ffh_size: ffh; each of the num_experts experts is ffh_size // num_experts wide.
            activation_type: every expert's activation.
            num_experts: ne, the number of experts in the whole world.
            moe_topk: k, the number of experts each token is routed to.
            rank, world_size: this module holds experts [rank * nle, (rank + 1) * nle),
                nle = num_experts // world_size.
            process_group: unused (None).
            init_mean, init_std: the router's normal initialisation (seed init_base_seed).
            init_base_seed, lora_init_base_seed, lora_dropout_seed: expert i gets each + i.
            lora_rank, lora_alpha, lora_dropout_rate: every expert's LoRA settings.
            dtype, device: the experts' parameters (the router is always float32).
        """
        super().__init__()
        raise NotImplementedError("TODO: SparseMLPWithLoRA.__init__")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input: [batch_size, seq_len, hidden_size], any device and dtype.

        Returns:
            [batch_size, seq_len, hidden_size], with input's dtype and device: the weighted sum
            of this rank's experts' outputs (zero rows for tokens routed to none of them).
        """
        raise NotImplementedError("TODO: SparseMLPWithLoRA.forward")

    def reset_parameters(self):
        """Reset every local expert and draw the router from init_base_seed."""
        raise NotImplementedError("TODO: SparseMLPWithLoRA.reset_parameters")

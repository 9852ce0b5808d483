from enum import Enum
from typing import Optional, Tuple

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# your GroupRMSNorm from the earlier assignment (src/modeling/norm.py)
from .norm import GroupRMSNorm


class AttnQKVPackFormat(Enum):
    QKV = "qkv_packed"
    Q_KV = "q_kv_packed"
    Q_K_V = "q_k_v_packed"


class AttnQKVLayout(Enum):
    BSHD = "bshd"
    SBHD = "sbhd"
    THD = "thd"


class OfflineSlidingWindowAttn(nn.Module):
    """Sliding-window multi-head attention over whole sequences, with the softmax
    stabilisers of the statement (scale, capping or temperature, clipping, dropout) and an
    optional group-RMS normalisation of q and k."""

    def __init__(
        self,
        head_dim: int,
        num_q_head: int,
        num_kv_head: int,
        qkv_pack_format: AttnQKVPackFormat = AttnQKVPackFormat.Q_K_V,
        qkv_layout: AttnQKVLayout = AttnQKVLayout.BSHD,
        window_size: Optional[int] = None,
        causal: bool = False,
        softmax_dropout_rate: float = 0.0,
        softmax_dropout_seed: int = 42,
        softmax_scale: Optional[float] = None,
        softmax_cap: Optional[float] = None,
        softmax_temp: float = 1.0,
        softmax_clip_range: Tuple[float, float] = (0., 1.),
        apply_qk_norm: bool = False,
        group_size: Optional[int] = None,
        eps: float = 1e-5,
        init_range: tuple = (-1.0, 1.0),
        init_seed: int = 42,
        dtype: torch.dtype = torch.float32,
        device: str = "cpu",
    ):
        """
        Args:
            head_dim: hd, the size of one head.
            num_q_head: hq, the number of query heads.
            num_kv_head: hkv, the number of key / value heads (hq is a multiple of hkv).
            qkv_pack_format: how q, k and v are passed to forward (see AttnQKVPackFormat).
            qkv_layout: the shape layout of q, k, v and of the output (see AttnQKVLayout).
            window_size: w; None means no window.
            causal: whether a query may only look at keys up to its own position.
            softmax_dropout_rate: p, the dropout probability applied to the attention weights.
            softmax_dropout_seed: the seed of that dropout.
            softmax_scale: the logit scale; None means 1 / sqrt(head_dim).
            softmax_cap: the capping value; None means no capping (then the temperature applies).
            softmax_temp: the softmax temperature, used only when softmax_cap is None.
            softmax_clip_range: (l, r) of the softmax clipping, l <= 0 <= 1 <= r.
            apply_qk_norm: whether to normalise q and k with GroupRMSNorm first.
            group_size: the GroupRMSNorm group size; None means head_dim.
            eps: the GroupRMSNorm epsilon.
            init_range: the GroupRMSNorm initialisation range.
            init_seed: the GroupRMSNorm initialisation seed.
            dtype: the dtype of the GroupRMSNorm parameters.
            device: the device of the GroupRMSNorm parameters.
        """
        super().__init__()
        raise NotImplementedError("TODO: Assignment3 - Task1")

    def forward(
        self,
        q: torch.Tensor,
        k: Optional[torch.Tensor] = None,
        v: Optional[torch.Tensor] = None,
        cu_seqlens_q: Optional[torch.Tensor] = None,
        cu_seqlens_k: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """
        Args:
            q: the query tensor, or q, k and v packed together (QKV).
            k: the key tensor, or k and v packed together (Q_KV), or None (QKV).
            v: the value tensor (Q_K_V), otherwise None.
            cu_seqlens_q: THD only: int32 [batch_size + 1], the sequence boundaries in q.
            cu_seqlens_k: THD only: int32 [batch_size + 1], the sequence boundaries in k and v.
        Returns:
            the output, in q's layout, dtype and device, with num_q_head heads.
        """
        raise NotImplementedError("TODO: Assignment3 - Task1")

    def reset_parameters(self):
        """Re-initialise the optional q / k norm parameters."""
        raise NotImplementedError("TODO: Assignment3 - Task1")

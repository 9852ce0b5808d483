from typing import Optional, Tuple
from enum import Enum

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# your GroupRMSNorm from the norm assignment (src/modeling/norm.py)
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
    """Sliding-window attention over whole sequences (the previous task).

    The online module below derives from this class and may reuse any of its pieces.
    """

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
            head_dim: size of one head
            num_q_head: number of query heads
            num_kv_head: number of key / value heads (num_q_head is a multiple of it)
            qkv_pack_format: how q, k, v are passed (separately, or packed along the head dim)
            qkv_layout: the shape layout of q, k, v and of the output
            window_size: sliding-window size; None means no window
            causal: mask the keys after each query (unidirectional) if True
            softmax_dropout_rate: dropout probability on the attention weights
            softmax_dropout_seed: seed for that dropout
            softmax_scale: logits scale; None means 1 / sqrt(head_dim)
            softmax_cap: logit capping cap * tanh(logits / cap); None means no capping
            softmax_temp: logits temperature, used only when softmax_cap is None
            softmax_clip_range: (l, r) range for softmax clipping
            apply_qk_norm: apply GroupRMSNorm to q and k if True
            group_size: GroupRMSNorm group size; None means head_dim
            eps: GroupRMSNorm epsilon
            init_range: GroupRMSNorm initialisation range
            init_seed: GroupRMSNorm initialisation seed
            dtype: dtype of the GroupRMSNorm parameters
            device: device of the GroupRMSNorm parameters
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
            q: the queries (or q, k, v packed together for "qkv_packed")
            k: the keys (or k, v packed together for "q_kv_packed"; None for "qkv_packed")
            v: the values ("q_k_v_packed" only, otherwise None)
            cu_seqlens_q: [batch_size + 1] cumulative query lengths ("thd" layout only)
            cu_seqlens_k: [batch_size + 1] cumulative key lengths ("thd" layout only)
        Returns:
            the attention output, in q's layout, dtype and device
        """
        raise NotImplementedError("TODO: Assignment3 - Task1")

    def reset_parameters(self):
        """Re-initialise the q / k GroupRMSNorm parameters, if any."""
        raise NotImplementedError("TODO: Assignment3 - Task1")


class OnlineSlidingWindowAttn(OfflineSlidingWindowAttn):
    """One block step of the offline attention (bshd layout, separate q / k / v).

    Each forward attends one query block to one key/value block and merges the result into the
    global output and log-sum-exp, in place.
    """

    def __init__(
        self,
        seqlen_q: int,
        seqlen_kv: int,
        block_size_q: int,
        block_size_kv: int,
        head_dim: int,
        num_q_head: int,
        num_kv_head: int,
        window_size: Optional[int] = None,
        causal: bool = False,
        softmax_scale: Optional[float] = None,
        softmax_cap: Optional[float] = None,
        softmax_temp: float = 1.0,
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
            seqlen_q: the whole query sequence length
            seqlen_kv: the whole key / value sequence length
            block_size_q: rows of one query block
            block_size_kv: rows of one key / value block
            the rest: as for OfflineSlidingWindowAttn (no dropout, no clipping here)
        """
        super().__init__(
            head_dim=head_dim,
            num_q_head=num_q_head,
            num_kv_head=num_kv_head,
            window_size=window_size,
            causal=causal,
            softmax_scale=softmax_scale,
            softmax_cap=softmax_cap,
            softmax_temp=softmax_temp,
            apply_qk_norm=apply_qk_norm,
            group_size=group_size,
            eps=eps,
            init_range=init_range,
            init_seed=init_seed,
            dtype=dtype,
            device=device,
        )
        raise NotImplementedError("TODO: Assignment3 - Task2")

    def forward(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        global_o: torch.Tensor,
        global_lse: torch.Tensor,
        block_idx_q: int,
        block_idx_kv: int,
    ) -> None:
        """
        Args:
            q: [batch_size, block_size_q, num_q_head, head_dim], query block block_idx_q
            k: [batch_size, block_size_kv, num_kv_head, head_dim], key block block_idx_kv
            v: [batch_size, block_size_kv, num_kv_head, head_dim], value block block_idx_kv
            global_o: [batch_size, seqlen_q, num_q_head, head_dim], updated in place
            global_lse: [batch_size, num_q_head, seqlen_q], float32, updated in place
            block_idx_q: index of the query block
            block_idx_kv: index of the key / value block
        """
        raise NotImplementedError("TODO: Assignment3 - Task2")

"""Accepted: the band mask from tril / triu with diagonal offsets, GQA by index_select on the
head dimension, THD split into sequences by their lengths and concatenated back, SBHD handled
with movedim, and the dropout through F.dropout honouring self.training."""

from enum import Enum
from typing import Optional, Tuple

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

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
        super().__init__()
        self.head_dim = head_dim
        self.num_q_head = num_q_head
        self.num_kv_head = num_kv_head
        self.qkv_pack_format = qkv_pack_format
        self.qkv_layout = qkv_layout
        self.window_size = window_size
        self.causal = causal
        self.softmax_dropout_rate = softmax_dropout_rate
        self.softmax_dropout_seed = softmax_dropout_seed
        self.softmax_scale = softmax_scale if softmax_scale is not None else math.sqrt(1.0 / head_dim)
        self.softmax_cap = softmax_cap
        self.softmax_temp = softmax_temp
        self.softmax_clip_range = softmax_clip_range
        self.apply_qk_norm = apply_qk_norm
        # query head i reads kv head i // g
        self.register_buffer("kv_index", torch.arange(num_q_head) // (num_q_head // num_kv_head), persistent=False)
        if apply_qk_norm:
            gz = head_dim if group_size is None else group_size
            self.q_norm = GroupRMSNorm(hidden_size=num_q_head * head_dim, group_size=gz, eps=eps,
                                       init_range=init_range, init_seed=init_seed, dtype=dtype, device=device)
            self.k_norm = GroupRMSNorm(hidden_size=num_kv_head * head_dim, group_size=gz, eps=eps,
                                       init_range=init_range, init_seed=init_seed, dtype=dtype, device=device)

    def reset_parameters(self):
        for name in ("q_norm", "k_norm"):
            if hasattr(self, name):
                getattr(self, name).reset_parameters()

    def forward(
        self,
        q: torch.Tensor,
        k: Optional[torch.Tensor] = None,
        v: Optional[torch.Tensor] = None,
        cu_seqlens_q: Optional[torch.Tensor] = None,
        cu_seqlens_k: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        hq, hkv = self.num_q_head, self.num_kv_head
        if self.qkv_pack_format is AttnQKVPackFormat.QKV:
            q, k, v = q.split([hq, hkv, hkv], dim=-2)
        elif self.qkv_pack_format is AttnQKVPackFormat.Q_KV:
            k, v = k.split(hkv, dim=-2)

        layout = self.qkv_layout
        if layout is AttnQKVLayout.THD:
            q, k, v = (x.unsqueeze(0) for x in (q, k, v))
        elif layout is AttnQKVLayout.SBHD:
            q, k, v = (x.movedim(0, 1) for x in (q, k, v))

        if self.apply_qk_norm:
            q = self.q_norm(q.flatten(2)).unflatten(2, (hq, self.head_dim))
            k = self.k_norm(k.flatten(2)).unflatten(2, (hkv, self.head_dim))
        if hq != hkv:
            idx = self.kv_index.to(k.device)
            k, v = k.index_select(2, idx), v.index_select(2, idx)

        if layout is AttnQKVLayout.THD:
            lens_q = (cu_seqlens_q[1:] - cu_seqlens_q[:-1]).tolist()
            lens_k = (cu_seqlens_k[1:] - cu_seqlens_k[:-1]).tolist()
            pieces = [
                self._attention(qi, ki, vi)
                for qi, ki, vi in zip(q.split(lens_q, dim=1), k.split(lens_k, dim=1), v.split(lens_k, dim=1))
            ]
            return torch.cat(pieces, dim=1)[0]
        o = self._attention(q, k, v)
        return o.movedim(1, 0) if layout is AttnQKVLayout.SBHD else o

    def _band(self, sq: int, skv: int, device) -> torch.Tensor:
        """True where query row i may attend key j (bottom-right aligned)."""
        shift = skv - sq
        band = torch.ones(sq, skv, dtype=torch.bool, device=device)
        w = self.window_size
        if self.causal:
            band = band.tril(diagonal=shift)
        elif w is not None:
            band = band.tril(diagonal=shift + w)
        if w is not None:
            band = band.triu(diagonal=shift - w)
        return band

    def _attention(self, q, k, v):
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # b h s d
        logits = torch.matmul(q, k.transpose(2, 3)) * self.softmax_scale
        if self.softmax_cap is not None:
            logits = self.softmax_cap * torch.tanh(logits / self.softmax_cap)
        else:
            logits = logits / self.softmax_temp
        band = self._band(q.shape[2], k.shape[2], q.device)
        logits = logits.masked_fill(~band, -math.inf)
        weights = F.softmax(logits.float(), dim=-1)
        weights = weights.masked_fill(~band.any(dim=1, keepdim=True), 0.0).to(q.dtype)
        low, high = self.softmax_clip_range
        weights = (weights * (high - low) + low).clamp(min=0.0, max=1.0)
        torch.manual_seed(self.softmax_dropout_seed)
        weights = F.dropout(weights, p=self.softmax_dropout_rate, training=self.training)
        return torch.matmul(weights, v).transpose(1, 2)

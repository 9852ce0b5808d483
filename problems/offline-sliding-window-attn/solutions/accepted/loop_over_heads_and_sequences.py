"""Accepted: explicit loops. Every (batch row or THD sequence, query head) pair gets its own 2-D
score matrix; a query head reads kv head h // (hq // hkv) directly instead of repeating k and v.
The weights of one batch (or one sequence) are stacked before the dropout, so the dropout mask
is drawn over the same [b, hq, sq, skv] block, after the same re-seeding, as the course's."""

import math
from enum import Enum
from typing import Optional, Tuple

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
        self.hd, self.hq, self.hkv = head_dim, num_q_head, num_kv_head
        self.fmt, self.layout = qkv_pack_format, qkv_layout
        self.w, self.causal = window_size, causal
        self.p, self.seed = softmax_dropout_rate, softmax_dropout_seed
        self.scale = softmax_scale if softmax_scale is not None else 1.0 / math.sqrt(head_dim)
        self.cap, self.temp = softmax_cap, softmax_temp
        self.lo, self.hi = softmax_clip_range
        self.qk_norm = apply_qk_norm
        if apply_qk_norm:
            gz = group_size or head_dim
            self.norm_q = GroupRMSNorm(num_q_head * head_dim, gz, eps, init_range, init_seed, dtype, device)
            self.norm_k = GroupRMSNorm(num_kv_head * head_dim, gz, eps, init_range, init_seed, dtype, device)

    def reset_parameters(self):
        if self.qk_norm:
            self.norm_q.reset_parameters()
            self.norm_k.reset_parameters()

    def forward(self, q, k=None, v=None, cu_seqlens_q=None, cu_seqlens_k=None):
        if self.fmt == AttnQKVPackFormat.QKV:
            q, k, v = torch.split(q, [self.hq, self.hkv, self.hkv], dim=-2)
        elif self.fmt == AttnQKVPackFormat.Q_KV:
            k, v = torch.split(k, [self.hkv, self.hkv], dim=-2)

        if self.layout == AttnQKVLayout.THD:
            if self.qk_norm:
                q = self.norm_q(q.flatten(-2).unsqueeze(0)).squeeze(0).unflatten(-1, (self.hq, self.hd))
                k = self.norm_k(k.flatten(-2).unsqueeze(0)).squeeze(0).unflatten(-1, (self.hkv, self.hd))
            out = q.new_zeros(q.shape[0], self.hq, self.hd)
            for i in range(cu_seqlens_q.numel() - 1):
                a, b = int(cu_seqlens_q[i]), int(cu_seqlens_q[i + 1])
                c, d = int(cu_seqlens_k[i]), int(cu_seqlens_k[i + 1])
                out[a:b] = self._batch([q[a:b]], [k[c:d]], [v[c:d]])[0]
            return out

        seq_first = self.layout == AttnQKVLayout.SBHD
        batch = q.shape[1] if seq_first else q.shape[0]
        rows = [(x[:, i] if seq_first else x[i]) for x in (q, k, v) for i in range(batch)]
        qs, ks, vs = rows[:batch], rows[batch:2 * batch], rows[2 * batch:]
        if self.qk_norm:
            qs = [self.norm_q(x.flatten(-2)[None])[0].unflatten(-1, (self.hq, self.hd)) for x in qs]
            ks = [self.norm_k(x.flatten(-2)[None])[0].unflatten(-1, (self.hkv, self.hd)) for x in ks]
        outs = self._batch(qs, ks, vs)
        return torch.stack(outs, dim=1 if seq_first else 0)

    def _batch(self, qs, ks, vs):
        """Lists of [s, h, d] rows -> list of [sq, hq, d] outputs, dropout drawn over all rows."""
        group = self.hq // self.hkv
        weights = []
        for q, k in zip(qs, ks):
            sq, skv = q.shape[0], k.shape[0]
            keep = self._keep(sq, skv, q.device)
            per_head = []
            for h in range(self.hq):
                s = q[:, h] @ k[:, h // group].T * self.scale
                s = torch.tanh(s / self.cap) * self.cap if self.cap is not None else s / self.temp
                s = torch.where(keep, s, torch.full_like(s, float("-inf")))
                a = torch.softmax(s.float(), dim=-1)
                a = torch.where(keep.any(-1, keepdim=True), a, torch.zeros_like(a)).to(q.dtype)
                per_head.append(a)
            weights.append(torch.stack(per_head))
        attn = torch.stack(weights)  # [b, hq, sq, skv]
        attn = (attn * (self.hi - self.lo) + self.lo).clip(0.0, 1.0)
        torch.manual_seed(self.seed)
        attn = F.dropout(attn, self.p, training=True)
        outs = []
        for bi, v in enumerate(vs):
            outs.append(torch.stack([attn[bi, h] @ v[:, h // group] for h in range(self.hq)], dim=1))
        return outs

    def _keep(self, sq, skv, device):
        i = torch.arange(sq, device=device)[:, None] + (skv - sq)
        j = torch.arange(skv, device=device)[None, :]
        keep = torch.ones(sq, skv, dtype=torch.bool, device=device)
        if self.causal:
            keep = keep & (j <= i)
        if self.w is not None:
            keep = keep & (j >= i - self.w)
            if not self.causal:
                keep = keep & (j <= i + self.w)
        return keep

"""Temporary judge-side attention module (until the attention problems' reference lands).

Offline sliding-window attention (pack formats, layouts, varlen THD, window, causal, scale,
capping or temperature, clipping, optional QK norm, GQA) and the online, block-by-block variant
that merges each block into a global output with log-sum-exp bookkeeping.
"""

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


def _band_mask(sq: int, skv: int, window: Optional[int], causal: bool, dtype, device) -> torch.Tensor:
    """[sq, skv] additive mask, aligned to the bottom-right corner when sq != skv."""
    n = max(sq, skv)
    rows = torch.arange(n - sq, n).unsqueeze(1)
    cols = torch.arange(n - skv, n).unsqueeze(0)
    w = n if window is None else window
    keep = cols >= torch.clamp(rows - w, min=n - skv)
    keep &= (cols <= rows) if causal else (cols <= rows + w)
    mask = torch.zeros(sq, skv, dtype=dtype)
    return mask.masked_fill(~keep, float("-inf")).to(device)


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
        softmax_clip_range: Tuple[float, float] = (0.0, 1.0),
        apply_qk_norm: bool = False,
        group_size: Optional[int] = None,
        eps: float = 1e-5,
        init_range: tuple = (-1.0, 1.0),
        init_seed: int = 42,
        dtype: torch.dtype = torch.float32,
        device: str = "cpu",
    ):
        super().__init__()
        self.head_dim, self.num_q_head, self.num_kv_head = head_dim, num_q_head, num_kv_head
        self.qkv_pack_format, self.qkv_layout = qkv_pack_format, qkv_layout
        self.window_size, self.causal = window_size, causal
        self.softmax_dropout_rate, self.softmax_dropout_seed = softmax_dropout_rate, softmax_dropout_seed
        self.softmax_scale = 1.0 / math.sqrt(head_dim) if softmax_scale is None else softmax_scale
        self.softmax_cap, self.softmax_temp = softmax_cap, softmax_temp
        self.clip_lo, self.clip_hi = softmax_clip_range
        self.apply_qk_norm = apply_qk_norm
        if apply_qk_norm:
            gz = head_dim if group_size is None else group_size
            common = dict(eps=eps, init_range=init_range, init_seed=init_seed, dtype=dtype, device=device)
            self.q_norm = GroupRMSNorm(hidden_size=num_q_head * head_dim, group_size=gz, **common)
            self.k_norm = GroupRMSNorm(hidden_size=num_kv_head * head_dim, group_size=gz, **common)

    def reset_parameters(self):
        if self.apply_qk_norm:
            self.q_norm.reset_parameters()
            self.k_norm.reset_parameters()

    def _norm_qk(self, q, k):
        if not self.apply_qk_norm:
            return q, k
        return tuple(norm(x.flatten(-2)).unflatten(-1, (x.shape[-2], self.head_dim))
                     for x, norm in ((q, self.q_norm), (k, self.k_norm)))

    def _logits(self, q, k):
        # q: [b, h, sq, d], k: [b, h, skv, d]
        a = (q @ k.transpose(-1, -2)) * self.softmax_scale
        if self.softmax_cap is not None:
            a = torch.tanh(a / self.softmax_cap) * self.softmax_cap
        else:
            a = a / self.softmax_temp
        return a + _band_mask(q.shape[-2], k.shape[-2], self.window_size, self.causal, a.dtype, a.device)

    def _dense(self, q, k, v):
        """q, k, v in [b, s, h, d] (k, v already repeated); returns [b, sq, h, d]."""
        q, k, v = (x.transpose(1, 2) for x in (q, k, v))
        a = self._logits(q, k)
        dead = torch.isneginf(a).all(dim=-1, keepdim=True)
        p = torch.softmax(a, dim=-1, dtype=torch.float32).masked_fill(dead, 0.0).to(q.dtype)
        p = torch.clamp((self.clip_hi - self.clip_lo) * p + self.clip_lo, 0.0, 1.0)
        if self.softmax_dropout_rate > 0:
            torch.manual_seed(self.softmax_dropout_seed)
            p = F.dropout(p, self.softmax_dropout_rate, training=self.training)
        return (p @ v).transpose(1, 2)

    def forward(self, q, k=None, v=None, cu_seqlens_q=None, cu_seqlens_k=None):
        nq, nkv = self.num_q_head, self.num_kv_head
        if self.qkv_pack_format is AttnQKVPackFormat.QKV:
            q, k, v = q.split([nq, nkv, nkv], dim=-2)
        elif self.qkv_pack_format is AttnQKVPackFormat.Q_KV:
            k, v = k.split([nkv, nkv], dim=-2)
        layout = self.qkv_layout
        if layout is AttnQKVLayout.SBHD:
            q, k, v = (x.transpose(0, 1) for x in (q, k, v))
        elif layout is AttnQKVLayout.THD:
            q, k, v = (x.unsqueeze(0) for x in (q, k, v))
        q, k = self._norm_qk(q, k)
        if nq != nkv:
            k, v = (x.repeat_interleave(nq // nkv, dim=-2) for x in (k, v))
        if layout is AttnQKVLayout.THD:
            o = torch.zeros_like(q)
            bq, bk = cu_seqlens_q.tolist(), cu_seqlens_k.tolist()
            for i in range(len(bq) - 1):
                o[:, bq[i]:bq[i + 1]] = self._dense(q[:, bq[i]:bq[i + 1]], k[:, bk[i]:bk[i + 1]],
                                                    v[:, bk[i]:bk[i + 1]])
            o = o.squeeze(0)
        else:
            o = self._dense(q, k, v)
            if layout is AttnQKVLayout.SBHD:
                o = o.transpose(0, 1)
        return o.to(q.dtype)


class OnlineSlidingWindowAttn(OfflineSlidingWindowAttn):
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
        super().__init__(head_dim=head_dim, num_q_head=num_q_head, num_kv_head=num_kv_head,
                         window_size=window_size, causal=causal, softmax_scale=softmax_scale,
                         softmax_cap=softmax_cap, softmax_temp=softmax_temp, apply_qk_norm=apply_qk_norm,
                         group_size=group_size, eps=eps, init_range=init_range, init_seed=init_seed,
                         dtype=dtype, device=device)
        self.seqlen_q, self.seqlen_kv = seqlen_q, seqlen_kv
        self.block_size_q, self.block_size_kv = block_size_q, block_size_kv

    def forward(self, q, k, v, global_o, global_lse, block_idx_q, block_idx_kv):
        bq, bkv = self.block_size_q, self.block_size_kv
        q0, k0 = block_idx_q * bq, block_idx_kv * bkv
        q, k = self._norm_qk(q, k)
        nq, nkv = self.num_q_head, self.num_kv_head
        if nq != nkv:
            k, v = (x.repeat_interleave(nq // nkv, dim=-2) for x in (k, v))
        qt, kt, vt = (x.transpose(1, 2) for x in (q, k, v))
        a = (qt @ kt.transpose(-1, -2)) * self.softmax_scale
        if self.softmax_cap is not None:
            a = torch.tanh(a / self.softmax_cap) * self.softmax_cap
        else:
            a = a / self.softmax_temp
        full = _band_mask(self.seqlen_q, self.seqlen_kv, self.window_size, self.causal, torch.float32, a.device)
        mask = torch.full((bq, bkv), float("-inf"), device=a.device)
        rq, rk = min(bq, self.seqlen_q - q0), min(bkv, self.seqlen_kv - k0)
        mask[:rq, :rk] = full[q0:q0 + rq, k0:k0 + rk]
        a = a.float() + mask
        lse = torch.logsumexp(a, dim=-1)  # [b, h, bq]
        p = torch.exp(a - torch.where(torch.isneginf(lse), 0.0, lse).unsqueeze(-1))
        o = (p.to(vt.dtype) @ vt).transpose(1, 2)  # [b, bq, h, d]
        old_lse, old_o = global_lse[..., q0:q0 + rq], global_o[:, q0:q0 + rq]
        lse, o = lse[..., :rq], o[:, :rq]
        new = torch.logaddexp(old_lse, lse)
        safe = torch.where(torch.isneginf(new), 0.0, new)
        w_old = torch.exp(old_lse - safe).transpose(1, 2).unsqueeze(-1)
        w_new = torch.exp(lse - safe).transpose(1, 2).unsqueeze(-1)
        global_o[:, q0:q0 + rq] = (w_old * old_o.float() + w_new * o.float()).to(global_o.dtype)
        global_lse[..., q0:q0 + rq] = new

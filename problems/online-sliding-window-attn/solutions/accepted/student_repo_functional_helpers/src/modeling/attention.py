"""Accepted: a whole student repository (graded like an upload of src/): its own GroupRMSNorm,
helpers in src/functional.py, the offline class built from overridable hooks that the online
class replaces (mask source, where the local lse goes), the padded mask kept as a buffer on the
parameter device, and the merge done in float64."""

from typing import Optional, Tuple
from enum import Enum

import torch
import torch.nn as nn

from .norm import GroupRMSNorm
from ..functional import safe_softmax, merge_lse, merge_output


class AttnQKVPackFormat(Enum):
    QKV = "qkv_packed"
    Q_KV = "q_kv_packed"
    Q_K_V = "q_k_v_packed"


class AttnQKVLayout(Enum):
    BSHD = "bshd"
    SBHD = "sbhd"
    THD = "thd"


def bottom_right_mask(sq, skv, window, causal):
    s = max(sq, skv)
    qi = torch.arange(s - sq, s).view(-1, 1)
    kj = torch.arange(s - skv, s).view(1, -1)
    w = s if window is None else window
    lo = qi - w
    hi = qi if causal else qi + w
    return (kj >= lo) & (kj <= hi)  # True = visible


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
        self.head_dim, self.num_q_head, self.num_kv_head = head_dim, num_q_head, num_kv_head
        self.qkv_pack_format, self.qkv_layout = qkv_pack_format, qkv_layout
        self.window_size, self.causal = window_size, causal
        self.dropout = nn.Dropout(softmax_dropout_rate)
        self.softmax_dropout_seed = softmax_dropout_seed
        self.softmax_scale = head_dim ** -0.5 if softmax_scale is None else softmax_scale
        self.softmax_cap, self.softmax_temp = softmax_cap, softmax_temp
        self.clip_lo, self.clip_hi = softmax_clip_range
        self.apply_qk_norm = apply_qk_norm
        gz = head_dim if group_size is None else group_size
        if apply_qk_norm:
            self.q_norm = GroupRMSNorm(num_q_head * head_dim, gz, eps, init_range, init_seed, dtype, device)
            self.k_norm = GroupRMSNorm(num_kv_head * head_dim, gz, eps, init_range, init_seed, dtype, device)

    def reset_parameters(self):
        if self.apply_qk_norm:
            self.q_norm.reset_parameters()
            self.k_norm.reset_parameters()

    # hooks the online class overrides
    def visible(self, sq, skv):
        return bottom_right_mask(sq, skv, self.window_size, self.causal)

    def keep_stats(self, lse):
        pass

    def core(self, q, k, v):
        """bshd q [b, sq, hq, d], k / v [b, skv, hkv, d] -> o [b, sq, hq, d]."""
        b, sq, hq, d = q.shape
        skv, hkv = k.shape[1], k.shape[2]
        if self.apply_qk_norm:
            q = self.q_norm(q.reshape(b, sq, hq * d)).view(b, sq, hq, d)
            k = self.k_norm(k.reshape(b, skv, hkv * d)).view(b, skv, hkv, d)
        rep = hq // hkv
        k = torch.repeat_interleave(k, rep, dim=2)
        v = torch.repeat_interleave(v, rep, dim=2)
        x = torch.einsum("bqhd,bkhd->bhqk", q, k) * self.softmax_scale
        if self.softmax_cap is not None:
            x = torch.tanh(x / self.softmax_cap) * self.softmax_cap
        else:
            x = x / self.softmax_temp
        x = x.masked_fill(~self.visible(sq, skv).to(x.device), float("-inf"))
        self.keep_stats(torch.logsumexp(x.float(), dim=-1))
        a = safe_softmax(x).to(q.dtype)
        a = torch.clamp((self.clip_hi - self.clip_lo) * a + self.clip_lo, 0.0, 1.0)
        torch.manual_seed(self.softmax_dropout_seed)
        a = self.dropout(a)
        return torch.einsum("bhqk,bkhd->bqhd", a, v)

    def forward(self, q, k=None, v=None, cu_seqlens_q=None, cu_seqlens_k=None):
        hq, hkv = self.num_q_head, self.num_kv_head
        if self.qkv_pack_format is AttnQKVPackFormat.QKV:
            q, k, v = torch.split(q, [hq, hkv, hkv], dim=-2)
        elif self.qkv_pack_format is AttnQKVPackFormat.Q_KV:
            k, v = torch.split(k, [hkv, hkv], dim=-2)
        if self.qkv_layout is AttnQKVLayout.SBHD:
            return self.core(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)).transpose(0, 1).to(q.dtype)
        if self.qkv_layout is AttnQKVLayout.THD:
            outs = []
            for i in range(len(cu_seqlens_q) - 1):
                qs = slice(int(cu_seqlens_q[i]), int(cu_seqlens_q[i + 1]))
                ks = slice(int(cu_seqlens_k[i]), int(cu_seqlens_k[i + 1]))
                outs.append(self.core(q[None, qs], k[None, ks], v[None, ks])[0])
            return torch.cat(outs, dim=0).to(q.dtype)
        return self.core(q, k, v).to(q.dtype)


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
        self.seqlen_q, self.seqlen_kv = seqlen_q, seqlen_kv
        self.block_size_q, self.block_size_kv = block_size_q, block_size_kv
        nq = (seqlen_q + block_size_q - 1) // block_size_q
        nk = (seqlen_kv + block_size_kv - 1) // block_size_kv
        full = torch.zeros(nq * block_size_q, nk * block_size_kv, dtype=torch.bool)
        full[:seqlen_q, :seqlen_kv] = bottom_right_mask(seqlen_q, seqlen_kv, window_size, causal)
        self.register_buffer("full_visible", full.to(device), persistent=False)
        self.block = (0, 0)
        self.local_lse = None

    def visible(self, sq, skv):
        r, c = self.block
        return self.full_visible[r:r + sq, c:c + skv]

    def keep_stats(self, lse):
        self.local_lse = lse

    def forward(self, q, k, v, global_o, global_lse, block_idx_q, block_idx_kv):
        r0 = block_idx_q * self.block_size_q
        self.block = (r0, block_idx_kv * self.block_size_kv)
        local_o = self.core(q, k, v)
        n = min(self.block_size_q, self.seqlen_q - r0)
        rows = slice(r0, r0 + n)
        lse_old = global_lse[..., rows]
        lse_blk = self.local_lse[..., :n]
        lse_new = merge_lse(lse_old, lse_blk)
        o_new = merge_output(global_o[:, rows], lse_old, local_o[:, :n], lse_blk, lse_new)
        global_o[:, rows] = o_new.to(global_o.dtype)
        global_lse[..., rows] = lse_new.to(global_lse.dtype)
